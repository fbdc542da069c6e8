import { defineErrors } from '@taskmesh/service-kit';

/** Every error this service answers with, by stable code. */
export const errors = defineErrors({
  AUTH_ERR_INVALID_EMAIL: [400, 'the email address is not valid'],
  AUTH_ERR_WEAK_PASSWORD: [400, 'the password is too common; choose another'],
  AUTH_ERR_EMAIL_TAKEN: [409, 'an account with this email already exists'],
  // One answer for an unknown email and a wrong password, so that neither reveals which it was.
  AUTH_ERR_INVALID_CREDENTIALS: [401, 'the email or password is wrong'],
  AUTH_ERR_LOGIN_LOCKED: [429, 'too many failed logins for this account; try again later'],
  AUTH_ERR_REFRESH_INVALID: [401, 'the refresh token is invalid, expired or revoked'],
  AUTH_ERR_USER_NOT_FOUND: [404, 'the account no longer exists'],
});
