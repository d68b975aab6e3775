package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Sender delivers a short text to a user's verified phone or email: the
// one-time sign-in codes offered as a fallback, and the notices of
// recoveries and factor changes. Every text is one of a fixed set (a
// code, or a sentence about the account), never health information, so
// a gateway or mailbox that carries it learns nothing of anyone's care.
// Send returns an error when the message
// could not be handed over; nothing is retried.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Channel is how a message travels.
type Channel string

const (
	ChannelSMS   Channel = "sms"
	ChannelEmail Channel = "email"
)

// Message is one text to one destination.
type Message struct {
	Channel Channel `json:"channel"`
	To      string  `json:"to"`
	Text    string  `json:"text"`
}

// FileSender is the built-in Sender: it appends each message as one JSON
// line to a file readable by its owner only (mode 0600), for a gateway
// process to pick up, or for development and tests. It never writes a
// message to the log.
type FileSender struct {
	path string
	now  func() time.Time
	mu   sync.Mutex
}

// NewFileSender opens path for messages, creating it (mode 0600) when it
// is missing and narrowing a wider mode to 0600.
func NewFileSender(path string, now func() time.Time) (*FileSender, error) {
	if path == "" {
		return nil, errors.New("oauth: message file: no path")
	}
	if now == nil {
		now = time.Now
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("oauth: message file: %w", err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return nil, fmt.Errorf("oauth: message file: %w", err)
	}
	return &FileSender{path: path, now: now}, nil
}

// Send appends the message, with the time, as one line. Each line is
// written with one append, so processes sharing the file do not
// interleave lines.
func (fs *FileSender) Send(_ context.Context, m Message) error {
	if m.Channel != ChannelSMS && m.Channel != ChannelEmail {
		return fmt.Errorf("oauth: message channel %q", m.Channel)
	}
	line, err := json.Marshal(struct {
		Time time.Time `json:"time"`
		Message
	}{fs.now().UTC(), m})
	if err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, err := os.OpenFile(fs.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("oauth: message file: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("oauth: message file: %w", err)
	}
	return nil
}

var _ Sender = (*FileSender)(nil)
