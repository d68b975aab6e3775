package sqlitestore

// Commits is the number of transactions Write has committed.
func Commits(s *Store) int64 { return s.commits.Load() }

// Waiting is the number of writers waiting for the writer connection.
func Waiting(s *Store) int { return int(s.waiting.Load()) }

// SetHandOffHook sets a function run as a unit leaves its batch open for
// the next writer; nil removes it.
func SetHandOffHook(f func()) { handOffHook = f }
