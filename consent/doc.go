// Package consent will be the one policy decision point: roles, Consent
// resources, security labels and break-glass decide what a principal may
// see or change. A denial is a value, not an error.
package consent
