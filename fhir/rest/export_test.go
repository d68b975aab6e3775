package rest

// SetMaxLimited lowers the bound on the resources collected to apply
// access limits, and returns the function that restores it.
func SetMaxLimited(n int) (restore func()) {
	old := maxLimited
	maxLimited = n
	return func() { maxLimited = old }
}
