package main

import (
	"testing"

	"mailroom/config"
	"mailroom/store"
)

// TestMessageSizeFitsStore: the largest message_size check-config accepts,
// plus the header fields the server adds (Received, Date, Message-ID, a
// DKIM-Signature: well under 64 KiB), fits in what the store holds, so a
// message is refused at the SMTP SIZE limit, never by the store.
func TestMessageSizeFitsStore(t *testing.T) {
	if int64(config.MaxMessageSize)+64<<10 > store.MaxBodySize {
		t.Fatalf("config.MaxMessageSize %d leaves no room under store.MaxBodySize %d", config.MaxMessageSize, store.MaxBodySize)
	}
}
