package inbound

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReversedIP(t *testing.T) {
	for ip, want := range map[string]string{ // RFC 5782 §2.1, §2.4
		"192.0.2.99":  "99.2.0.192",
		"2001:db8::1": "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2",
	} {
		if got := reversedIP(net.ParseIP(ip)); got != want {
			t.Errorf("reversedIP(%s) = %s, want %s", ip, got, want)
		}
	}
}

// TestLearner: spam and ham go to rspamd's controller endpoints with the
// password; "already learned" is success; an error is reported.
func TestLearner(t *testing.T) {
	var paths, passwords []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		paths, passwords = append(paths, r.URL.Path+" "+string(body)), append(passwords, r.Header.Get("Password"))
		switch string(body) {
		case "dup":
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"<x@y> has been already learned as spam, ignore it"}`)
		case "bad":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			io.WriteString(w, `{"success":true}`)
		}
	}))
	defer srv.Close()
	l := &Learner{URL: srv.URL + "/", Password: "q1"}
	ctx := context.Background()
	if err := l.Learn(ctx, []byte("spam!"), true); err != nil {
		t.Fatal(err)
	}
	if err := l.Learn(ctx, []byte("fine"), false); err != nil {
		t.Fatal(err)
	}
	if err := l.Learn(ctx, []byte("dup"), true); err != nil {
		t.Errorf("already learned: %v", err)
	}
	if err := l.Learn(ctx, []byte("bad"), true); err == nil {
		t.Error("a 500 was success")
	}
	if strings.Join(paths[:2], "|") != "/learnspam spam!|/learnham fine" || passwords[0] != "q1" {
		t.Errorf("requests %q, passwords %q", paths, passwords)
	}
}
