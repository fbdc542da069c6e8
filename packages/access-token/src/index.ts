export {
  ACCESS_TOKEN_ALG,
  ACCESS_TOKEN_TYP,
  ROLES,
  TokenError,
  bearerToken,
  createAccessTokenVerifier,
  signAccessToken,
  type Principal,
  type Role,
  type SignOptions,
  type SigningKey,
  type TokenErrorCode,
  type VerifierOptions,
  type VerifyAccessToken,
} from './token.js';
export { missingRole, missingToken, tokenErrors, tokenFailure } from './errors.js';
export { accessTokenPlugin, principalOf, type AccessTokenPluginOptions } from './plugin.js';
export { TokenCache, type TokenCacheOptions } from './token-cache.js';
