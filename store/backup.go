package store

// DBSizes returns Badger's own estimate of the bytes its LSM tree and
// value log take on disk (refreshed by Badger about once a minute).
func (s *Store) DBSizes() (lsm, vlog int64, err error) {
	leave, err := s.enter()
	if err != nil {
		return 0, 0, err
	}
	defer leave()
	lsm, vlog = s.db.Size()
	return lsm, vlog, nil
}
