package bert

import (
	"errors"

	"github.com/vkinfer/vkinfer/model"
)

// Sentinel errors callers branch on. Returned errors wrap one of these with
// what was wrong and where.
var (
	// ErrUnsupported marks a model or option this package does not run:
	// another architecture, rank pooling, an unknown pooling type, or a
	// tensor type package quant cannot dequantize.
	ErrUnsupported = errors.New("bert: unsupported")
	// ErrModel marks metadata or tensors that are missing or inconsistent.
	ErrModel = errors.New("bert: invalid model")
	// ErrEmptyInput marks a batch without inputs or an input without tokens.
	ErrEmptyInput = errors.New("bert: empty input")
	// ErrTooLong marks an input longer than the model's context when
	// truncation was not asked for (model.ErrTooLong).
	ErrTooLong = model.ErrTooLong
	// ErrTokenRange marks a token id outside the vocabulary.
	ErrTokenRange = errors.New("bert: token id out of range")
	// ErrOption marks an invalid option value (model.ErrOption).
	ErrOption = model.ErrOption
)
