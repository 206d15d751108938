export { CryptoError, type CryptoErrorCode } from './crypto.errors';
export { EnvelopeCipher } from './envelope.cipher';
export { type KeyRing, parseMasterKey } from './key-ring.util';
export { PasswordHasher, type PasswordHasherOptions } from './password.hasher';
export { SecretHasher } from './secret.hasher';
export {
  ALPHANUMERIC,
  deriveAlphanumeric,
  generateAppKey,
  generateDeviceSecret,
  generateMasterSecret,
  generateRegistrationId,
  generateToken,
  isAppKey,
} from './secret.generator';
