export { createMongoClient, ensureIndexes, pingMongo, type MongoSettings } from './client.js';
export { isDuplicateKey, isTransientMongoError } from './errors.js';
export { mongoOptionsFrom, mongoPlugin, type MongoEnvironment, type MongoPluginOptions } from './plugin.js';
export { observePool } from './pool-metrics.js';
export { mongoUsable, waitForMongo, type WaitForMongoOptions } from './wait.js';
