package saslogin

import "testing"

// TestServer: the user name comes in the initial response or after
// "Username:", then the password; check sees both and decides.
func TestServer(t *testing.T) {
	for _, initial := range [][]byte{nil, []byte("alice")} {
		var gotU, gotP string
		s := NewServer(func(u, p string) error { gotU, gotP = u, p; return nil })
		ch, done, err := s.Next(initial)
		if initial == nil {
			if string(ch) != "Username:" || done || err != nil {
				t.Fatalf("first step %q %v %v", ch, done, err)
			}
			ch, done, err = s.Next([]byte("alice"))
		}
		if string(ch) != "Password:" || done || err != nil {
			t.Fatalf("user step %q %v %v", ch, done, err)
		}
		if _, done, err = s.Next([]byte("secret")); !done || err != nil {
			t.Fatalf("password step %v %v", done, err)
		}
		if gotU != "alice" || gotP != "secret" {
			t.Errorf("check got %q %q", gotU, gotP)
		}
	}
}

func FuzzServer(f *testing.F) {
	f.Add([]byte(""), []byte("user"), []byte("pass"))
	f.Add([]byte("user"), []byte("pass"), []byte("extra"))
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		var gotU, gotP string
		s := NewServer(func(u, p string) error { gotU, gotP = u, p; return nil })
		for _, r := range [][]byte{a, b, c, nil} {
			if _, done, err := s.Next(r); done || err != nil {
				break
			}
		}
		_ = gotU + gotP
	})
}
