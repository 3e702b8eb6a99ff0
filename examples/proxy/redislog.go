package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// redisLog routes the lines go-redis logs itself — a failed dial, a
// connection dropped by the pool, trouble with push notifications — into
// the proxy's slog logger, where they carry the request's context and
// land in the same stream (text or JSON) as every other log line, instead
// of go-redis's own stderr logger.
//
// go-redis has one logger per process (redis.SetLogger), so the library
// packages never set it: an application that embeds llmgate may have its
// own. The proxy owns its process, and newBackends installs redisLog
// when it connects to Redis; every user of that client (limiter, ledger,
// cache) then logs through it.
//
// Each line is a warning — go-redis logs what went wrong — with the
// message "redis client" and the text, without go-redis's "redis: "
// prefix, as the attribute detail. It is safe for concurrent use.
type redisLog struct{ log *slog.Logger }

// Printf logs one go-redis line; it implements go-redis's logging
// interface.
func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	if !l.log.Enabled(ctx, slog.LevelWarn) {
		return
	}
	detail := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	l.log.WarnContext(ctx, "redis client", slog.String("detail", detail))
}

// useRedisLog makes go-redis log through log, for the whole process.
func useRedisLog(log *slog.Logger) { redis.SetLogger(redisLog{log}) }
