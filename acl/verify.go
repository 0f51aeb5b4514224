package acl

// PasswordChecker parses a password hash (argon2id or bcrypt, as in the
// configuration) for a credential that is not an account's, such as the
// metrics endpoint's, and returns a function that checks a password
// against it.
func PasswordChecker(hash string) (func(password string) bool, error) {
	h, err := parseHash(hash)
	if err != nil {
		return nil, err
	}
	return h.verify, nil
}
