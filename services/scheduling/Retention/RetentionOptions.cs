namespace ScheduledPosts.Scheduling.Retention;

/// <summary>The <c>Retention</c> section: how long the scheduling service keeps what it no longer needs (docs/operations.md#retention).</summary>
public sealed class RetentionOptions
{
    public const string Section = "Retention";

    /// <summary>The API promises to replay an idempotent answer for 24 h (docs/api.md#idempotency); keys may not go sooner.</summary>
    public static readonly TimeSpan IdempotencyPromise = TimeSpan.FromHours(24);

    /// <summary>Outbox rows sent this long ago are removed (they only help to trace what was sent).</summary>
    public TimeSpan SentOutbox { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Idempotency keys created this long ago are removed; at least <see cref="IdempotencyPromise"/>.</summary>
    public TimeSpan IdempotencyKeys { get; set; } = IdempotencyPromise;

    /// <summary>Audit entries (a post's <c>/events</c>, a deleted post's tombstone) older than this are removed; zero keeps them forever.</summary>
    public TimeSpan AuditEntries { get; set; } = TimeSpan.FromDays(365);

    /// <summary>Media uploaded this long ago that no post links to is orphaned, then removed like a deleted post's media.</summary>
    public TimeSpan UnattachedMedia { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Time between sweeps (a deleted post's media is swept at once).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Rows one statement deletes or marks, so a large backlog is worked off in short transactions.</summary>
    public int BatchSize { get; set; } = 500;
}
