// Package seal crypto-shreds personal data: each contact's personal values are sealed with
// that contact's own data key, so destroying one key makes every copy of them unreadable.
//
// # Key hierarchy
//
// A master key (MasterKeySize bytes: from configuration with MasterKeyFromConfig, from a file
// with LoadMasterKey, or generated once under the data directory with EnsureMasterKey, mode
// 0600 in a 0700 directory) wraps one random 256-bit data key per (institution, contact) with
// AES-256-GCM. The associated data of the wrap is the institution and contact, so a wrapped key
// copied to another contact does not open. Each wrapped key records the KeyID of the master key
// that wrapped it; WithPreviousMasterKeys keeps old master keys for unwrapping while new data
// keys are wrapped under the current one.
//
// Wrapped keys live in store.Keys. A contact's key is created on first sight by
// insert-if-absent and the key the store returns is the one used, so ingest replicas racing on
// a new contact all converge on one key. Destroy replaces the key by a tombstone; from then on
// Seal and Open return ErrKeyDestroyed, and ingest drops personal fields of late events instead
// of sealing them under a fresh key.
//
// A sealed value is Prefix ("sealed:v1:") followed by base64url without padding of
// nonce||ciphertext||tag, AES-256-GCM under the data key with the institution, contact and
// field name as associated data: a value copied onto another contact or field does not open.
// Field names are therefore part of the format: whoever opens a value must pass the same name
// the sealer used (for example "profile.email").
//
// # Caveats
//
//   - Unwrapped data keys are cached (bounded LRU, WithCacheSize, default 100,000 contacts) so
//     that sealing is not a store read per value. Destroy clears this process's cache at once,
//     but another process's Destroy is only seen here when the cached entry expires
//     (WithCacheTTL, default one minute). During that window a replica may still seal a late
//     event under the destroyed key; the result is as unreadable as every other copy once the
//     window ends, because the key exists nowhere else.
//   - "Not found" is never cached: only the store decides which replica's key wins. Tombstones
//     are cached without expiry, since a destroyed key never comes back.
//   - A ContactKey (For, ForRead) holds its key; get one per event, not per process.
//   - Go cannot reliably erase memory, so unwrapped keys are not zeroed on eviction; they are
//     unreachable once evicted and the garbage collector reclaims them.
//   - Random 96-bit nonces: a data key must not seal more than 2^32 values, far above what one
//     contact produces.
//   - Rotating the master key re-wraps nothing: the store port has no update for keys, so old
//     master keys must stay configured as previous keys until that is added.
package seal
