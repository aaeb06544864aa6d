package bus

import (
	"github.com/cloudevents/sdk-go/v2/event"
)

// EncodedSize is how many bytes of the connection's max payload e takes when published on
// subject: its data and its headers as NATS frames them, trace context excepted (a
// publisher adds it; leave room for it). A caller checks a batch against it before
// publishing anything, since an event over the limit is refused by the server every time.
func EncodedSize(subject string, e event.Event) (int, error) {
	msg, err := encodeEvent(subject, &e, "", "")
	if err != nil {
		return 0, err
	}
	// "NATS/1.0\r\n", "Key: value\r\n" per value, then "\r\n": the frame nats.go sends and
	// counts against the max payload with the data.
	n := len("NATS/1.0\r\n") + len("\r\n") + len(msg.Data)
	for k, vs := range msg.Header {
		for _, v := range vs {
			n += len(k) + len(": ") + len(v) + len("\r\n")
		}
	}
	return n, nil
}
