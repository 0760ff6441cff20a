package main

import (
	"context"
	"errors"
	"io"
)

func demo(ctx context.Context, stdout io.Writer) error {
	return errors.New("demo: not available in this build")
}
