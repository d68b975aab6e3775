package mongostore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/oncofhir/oncofhir/fhir"
)

// errClosed answers every call made after Close.
var errClosed = fmt.Errorf("mongostore: store is closed: %w", fhir.ErrUnavailable)

// Server error codes that mean "another writer got there first".
const (
	codeWriteConflict = 112
)

// codeNamespaceExists answers the creation of a collection that exists.
const codeNamespaceExists = 48

// translate turns a driver error into one of ours, without wrapping any
// driver type (STYLE rule 7):
//   - no document → fhir.ErrNotFound;
//   - duplicate key, write conflict → fhir.ErrVersionConflict;
//   - network, timeout, server selection, closed client → fhir.ErrUnavailable;
//   - context cancellation as it is, an expired deadline as unavailable
//     too; our own errors as they are;
//   - anything else: a plain error with the driver's message.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var fe *fhir.Error
	if errors.As(err, &fe) {
		return err
	}
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return fhir.ErrNotFound
	case mongo.IsDuplicateKeyError(err), hasCode(err, codeWriteConflict):
		return fmt.Errorf("%w (%s)", fhir.ErrVersionConflict, err.Error())
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w (%s)", context.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w (%s)", fhir.ErrUnavailable, context.DeadlineExceeded, err.Error())
	case errors.Is(err, mongo.ErrClientDisconnected):
		return errClosed
	case unavailable(err):
		return fmt.Errorf("%w (%s)", fhir.ErrUnavailable, err.Error())
	}
	return errors.New(err.Error())
}

func unavailable(err error) bool {
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) {
		return true
	}
	var sse topology.ServerSelectionError
	if errors.As(err, &sse) {
		return true
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		// Not primary, shutting down, node recovering: the replica set is
		// electing, the request may succeed later.
		for _, c := range []int{91, 189, 10107, 11600, 11602, 13435, 13436} {
			if se.HasErrorCode(c) {
				return true
			}
		}
	}
	return false
}

func hasCode(err error, code int) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(code)
}

// fail wraps a failed operation with what was being done.
func (s *Store) fail(op string, err error) error {
	if s.isClosed() {
		return fmt.Errorf("mongostore: %s: %w", op, errClosed)
	}
	return fmt.Errorf("mongostore: %s: %w", op, translate(err))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return b
}
