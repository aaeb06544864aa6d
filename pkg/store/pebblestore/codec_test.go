package pebblestore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/store"
)

// fill sets every exported field reachable from v to a distinct non-zero value, maps and
// slices to two elements: a field the codec forgets cannot hide behind a zero value.
func fill(v reflect.Value, n *int) {
	*n++
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(time.Unix(int64(*n)*86_400_123, int64(*n)*1_000_001).UTC()))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(-int64(*n) * 1_000_003)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), n)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(k, n)
			fill(e, n)
			v.SetMapIndex(k, e)
		}
	default:
		panic("fill: add a case for " + v.Type().String())
	}
}

func TestCodecCoversEveryField(t *testing.T) {
	t.Parallel()
	var want store.Contact
	n := 0
	fill(reflect.ValueOf(&want).Elem(), &n)
	v, err := encodeContact(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeContact(v)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		t.Fatalf("a field does not round-trip through the contact codec (add it to binary.go):\n got  %s\n want %s", gj, wj)
	}
	h, _, err := readHead(v)
	if err != nil || h.version != want.Version || h.status != string(want.Status) || !h.recency.Equal(want.Recency) {
		t.Fatalf("header = %+v, %v; want the contact's version, status and recency", h, err)
	}
}

func TestCodecRejectsTruncatedValues(t *testing.T) {
	t.Parallel()
	var c store.Contact
	n := 0
	fill(reflect.ValueOf(&c).Elem(), &n)
	v, _ := encodeContact(c)
	for i := range len(v) {
		if _, err := decodeContact(v[:i]); err == nil {
			t.Fatalf("decoding the first %d of %d bytes succeeded", i, len(v))
		}
	}
}

func FuzzDecodeContact(f *testing.F) {
	var c store.Contact
	n := 0
	fill(reflect.ValueOf(&c).Elem(), &n)
	v, _ := encodeContact(c)
	f.Add(v)
	v, _ = encodeContact(store.Contact{Institution: "i", ID: "c"})
	f.Add(v)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeContact(b)
		if err != nil {
			return
		}
		again, err := encodeContact(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeContact(again); err != nil {
			t.Fatalf("re-encoded contact does not decode: %v", err)
		}
	})
}

func TestKeyEncodingPreservesOrder(t *testing.T) {
	t.Parallel()
	strs := []string{"", "\x00", "\x00\x00", "\x00\x01", "\x00\xff", "\x01", "-", "0", "A", "_", "a", "c", "c\x00", "c1", "c1\x00", "c1-", "c10", "c2", "\xff", "\xff\xff"}
	for i := range strs {
		for j := range strs {
			a, b := appendString(nil, strs[i]), appendString(nil, strs[j])
			if got, want := bytes.Compare(a, b), strings.Compare(strs[i], strs[j]); got != want {
				t.Fatalf("compare(%q, %q) = %d encoded, %d plain", strs[i], strs[j], got, want)
			}
			if i != j && bytes.HasPrefix(b, a) {
				t.Fatalf("encoding of %q is a prefix of that of %q", strs[i], strs[j])
			}
		}
		s, rest, err := readString(append(appendString(nil, strs[i]), "tail"...))
		if err != nil || s != strs[i] || string(rest) != "tail" {
			t.Fatalf("readString(%q) = %q, %q, %v", strs[i], s, rest, err)
		}
	}

	times := []time.Time{
		{}, time.Date(1677, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(-1, 999_999_999), time.Unix(0, 0),
		time.Unix(0, 1), time.Unix(1, 0), time.Date(2262, 4, 12, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
	}
	var enc [][]byte
	for _, tm := range times {
		enc = append(enc, appendTime(nil, tm))
		got, _, err := readTime(enc[len(enc)-1])
		if err != nil || !got.Equal(tm) {
			t.Fatalf("readTime(appendTime(%v)) = %v, %v", tm, got, err)
		}
	}
	if !slices.IsSortedFunc(enc, bytes.Compare) {
		t.Fatal("encoded times do not sort like the times")
	}

	ints := []int64{math.MinInt64, -1 << 40, -2, -1, 0, 1, 9, 10, 1 << 40, math.MaxInt64}
	enc = nil
	for _, v := range ints {
		enc = append(enc, appendInt64(nil, v))
	}
	if !slices.IsSortedFunc(enc, bytes.Compare) {
		t.Fatal("encoded int64s do not sort like the numbers")
	}
}

func TestPrefixEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want []byte }{
		{[]byte("a"), []byte("b")}, {[]byte{'a', 0xff}, []byte("b")}, {[]byte{0x00, 0x01}, []byte{0x00, 0x02}}, {[]byte{0xff}, nil},
	} {
		if got := prefixEnd(tc.in); !bytes.Equal(got, tc.want) {
			t.Errorf("prefixEnd(%x) = %x, want %x", tc.in, got, tc.want)
		}
	}
}

// BenchmarkContactCodec compares the binary contact codec with encoding/json on a typical
// contact: one encode and one decode per op, what a read-fold-Put costs in codec time.
func BenchmarkContactCodec(b *testing.B) {
	c := benchContact("inst-1", 42, time.Date(2024, 3, 14, 0, 0, 0, 0, time.UTC))
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, _ := encodeContact(c)
			if _, err := decodeContact(v); err != nil {
				b.Fatal(err)
			}
		}
		v, _ := encodeContact(c)
		b.ReportMetric(float64(len(v)), "bytes")
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, _ := json.Marshal(c)
			var out store.Contact
			if err := json.Unmarshal(v, &out); err != nil {
				b.Fatal(err)
			}
		}
		v, _ := json.Marshal(c)
		b.ReportMetric(float64(len(v)), "bytes")
	})
}

// Values written before the criteria were stored (formatBinary) still read, without them.
func TestCodecReadsValuesWithoutCriteria(t *testing.T) {
	t.Parallel()
	var c store.Contact
	n := 0
	fill(reflect.ValueOf(&c).Elem(), &n)
	v, _ := encodeContact(c)
	// The criteria are the last bytes: their count (one byte when empty) and entries.
	section := len(appendContactBody(nil, &store.Contact{Criteria: c.Criteria})) - len(appendContactBody(nil, &store.Contact{})) + 1
	old := append([]byte{formatBinary}, v[1:len(v)-section]...)
	got, err := decodeContact(old)
	if err != nil {
		t.Fatalf("an old value does not decode: %v", err)
	}
	c.Criteria = nil
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("an old value decodes to another contact")
	}
}
