export { DEFAULT_RECONNECT, reconnectDelay, type ReconnectOptions } from './backoff.js'
export * from './messages.js'
export { OfflineQueue, type QueuedMessage } from './offline-queue.js'
export * from './plaza-client.js'
