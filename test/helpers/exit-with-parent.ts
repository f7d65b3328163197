/**
 * Preloaded (`--import`) into every Plaza server a test spawns (see process.ts). The server's stdin
 * is a pipe from the test process; the pipe ends when that process dies in any way (a tap timeout,
 * SIGKILL, a crash), and the server then dies too instead of living on, holding a port and Redis.
 */
const die = (): void => { process.kill(process.pid, 'SIGKILL') }
process.stdin.on('end', die)
process.stdin.on('error', die)
process.stdin.resume()
// Reading stdin must not keep a server alive that shuts down on its own (SIGTERM, a fatal error).
process.stdin.unref()
