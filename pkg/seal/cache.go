package seal

import (
	"container/list"
	"sync"
	"time"
)

type cacheKey struct{ institution, contact string }

type cacheEntry struct {
	k cacheKey
	// dataKey is the unwrapped data key; nil marks a tombstone. Raw keys rather than ready
	// AEADs are cached because an AES-GCM instance weighs ~800 bytes against 32, and building
	// one per event (not per field) costs far less than the memory would.
	dataKey []byte
	// expires bounds how long a key destroyed by another process stays usable here. Zero for
	// tombstones: a destroyed key never comes back, so a tombstone can be trusted forever.
	expires time.Time
}

// keyCache is a bounded LRU of unwrapped data keys and of tombstones seen.
//
// It never remembers "not found": two replicas that each believed a contact had no key would
// both be right to create one, but only the store decides which one wins, so every miss asks
// the store.
type keyCache struct {
	mu  sync.Mutex
	max int
	ttl time.Duration
	ll  *list.List // front = most recently used
	m   map[cacheKey]*list.Element
	// gen counts local destructions. A load that read the store before a Destroy finished must
	// not put the pre-destruction key back, so puts carry the generation seen when their store
	// read began and are dropped if a Destroy happened since.
	gen uint64
}

func newKeyCache(max int, ttl time.Duration) *keyCache {
	return &keyCache{max: max, ttl: ttl, ll: list.New(), m: make(map[cacheKey]*list.Element)}
}

// get returns the cached key, or destroyed=true for a tombstone; ok=false on a miss.
func (c *keyCache) get(k cacheKey, now time.Time) (dataKey []byte, destroyed, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[k]
	if !ok {
		return nil, false, false
	}
	e := el.Value.(*cacheEntry)
	if e.dataKey != nil && !now.Before(e.expires) {
		c.remove(el)
		return nil, false, false
	}
	c.ll.MoveToFront(el)
	return e.dataKey, e.dataKey == nil, true
}

func (c *keyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches a live key read at generation gen. It never overwrites a tombstone.
func (c *keyCache) put(k cacheKey, dataKey []byte, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max == 0 || gen != c.gen {
		return
	}
	if el, ok := c.m[k]; ok {
		e := el.Value.(*cacheEntry)
		if e.dataKey == nil {
			return
		}
		e.dataKey, e.expires = dataKey, now.Add(c.ttl)
		c.ll.MoveToFront(el)
		return
	}
	c.insert(&cacheEntry{k: k, dataKey: dataKey, expires: now.Add(c.ttl)})
}

// destroyed replaces whatever is cached for k by a tombstone and fences off in-flight loads.
func (c *keyCache) destroyed(k cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if el, ok := c.m[k]; ok {
		e := el.Value.(*cacheEntry)
		e.dataKey, e.expires = nil, time.Time{}
		c.ll.MoveToFront(el)
		return
	}
	if c.max == 0 {
		return
	}
	c.insert(&cacheEntry{k: k})
}

func (c *keyCache) insert(e *cacheEntry) {
	c.m[e.k] = c.ll.PushFront(e)
	for c.ll.Len() > c.max {
		c.remove(c.ll.Back())
	}
}

func (c *keyCache) remove(el *list.Element) {
	c.ll.Remove(el)
	delete(c.m, el.Value.(*cacheEntry).k)
}
