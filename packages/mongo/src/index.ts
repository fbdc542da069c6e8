export { createMongoClient, ensureIndexes, pingMongo, type MongoSettings } from './client.js';
export { mongoPlugin, type MongoPluginOptions } from './plugin.js';
