namespace ScheduledPosts.Sandbox;

/// <summary>One status the sandbox accepted, as <c>GET /sandbox/statuses</c> shows it.</summary>
public sealed record RecordedStatus(
    string Id,
    string Account,
    string Status,
    string? IdempotencyKey,
    DateTimeOffset ReceivedAt,
    string? InReplyToId = null,
    IReadOnlyList<RecordedMedia>? Media = null,
    DateTimeOffset? DeletedAt = null);

/// <summary>One media file uploaded to the sandbox, kept as its size and SHA-256 (lowercase hex), not its bytes.</summary>
public sealed record RecordedMedia(string Id, string Account, string Type, string FileName, string ContentType, long Length, string Sha256, string? Description);

/// <summary>
/// Every status and media file posted to the sandbox, in memory. Thread-safe: the publisher runs many uploads at
/// once, and a repeated <c>Idempotency-Key</c> must never record a second copy, even when both requests race.
/// </summary>
public sealed class StatusStore(TimeProvider clock)
{
    private readonly Lock _lock = new();
    private readonly List<RecordedStatus> _statuses = [];
    private readonly Dictionary<(string Account, string Key), RecordedStatus> _byIdempotencyKey = [];
    private readonly Dictionary<string, RecordedMedia> _media = [];
    private long _lastId;

    /// <summary>Records a new status, or returns the one first posted with the same account and idempotency key.</summary>
    public (RecordedStatus Status, bool Replayed) Add(string account, string text, string? idempotencyKey,
        string? inReplyToId = null, IReadOnlyList<RecordedMedia>? media = null)
    {
        lock (_lock)
        {
            if (idempotencyKey is not null && _byIdempotencyKey.TryGetValue((account, idempotencyKey), out var first))
            {
                return (first, true);
            }

            var now = clock.GetUtcNow();
            var status = new RecordedStatus(NextId(now), account, text, idempotencyKey, now, inReplyToId, media ?? []);
            _statuses.Add(status);
            if (idempotencyKey is not null)
            {
                _byIdempotencyKey[(account, idempotencyKey)] = status;
            }

            return (status, false);
        }
    }

    public RecordedMedia AddMedia(string account, string fileName, string contentType, long length, string sha256, string? description)
    {
        lock (_lock)
        {
            string type = contentType.Split('/')[0] switch
            {
                "image" => "image",
                "video" => "video",
                "audio" => "audio",
                _ => "unknown",
            };
            var media = new RecordedMedia(NextId(clock.GetUtcNow()), account, type, fileName, contentType, length, sha256, description);
            _media[media.Id] = media;
            return media;
        }
    }

    public RecordedMedia? FindMedia(string account, string id)
    {
        lock (_lock)
        {
            return _media.TryGetValue(id, out var media) && media.Account == account ? media : null;
        }
    }

    /// <summary>A status not deleted, by id.</summary>
    public RecordedStatus? Find(string id)
    {
        lock (_lock)
        {
            return _statuses.Find(s => s.Id == id && s.DeletedAt is null);
        }
    }

    public enum Deletion
    {
        Deleted,
        NotFound,
        NotTheAuthor,
    }

    /// <summary>
    /// Deletes a status of <paramref name="account"/>: it stays in <see cref="All"/> with its <c>DeletedAt</c> (a test
    /// sees that it was removed, and when), and is found no more. A second deletion finds nothing.
    /// </summary>
    public (Deletion Outcome, RecordedStatus? Status) Delete(string account, string id)
    {
        lock (_lock)
        {
            int index = _statuses.FindIndex(s => s.Id == id && s.DeletedAt is null);
            if (index < 0)
            {
                return (Deletion.NotFound, null);
            }

            var status = _statuses[index];
            if (status.Account != account)
            {
                return (Deletion.NotTheAuthor, null);
            }

            var deleted = status with { DeletedAt = clock.GetUtcNow() };
            _statuses[index] = deleted;
            if (status.IdempotencyKey is { } key)
            {
                _byIdempotencyKey[(account, key)] = deleted;
            }

            return (Deletion.Deleted, deleted);
        }
    }

    public IReadOnlyList<RecordedStatus> All()
    {
        lock (_lock)
        {
            return [.. _statuses];
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _statuses.Clear();
            _byIdempotencyKey.Clear();
            _media.Clear();
        }
    }

    // Snowflake-like, as Mastodon's: milliseconds since the epoch in the high bits, so ids sort by time;
    // bumped past the last one so two statuses in the same millisecond still get increasing ids.
    private string NextId(DateTimeOffset now)
    {
        _lastId = Math.Max(_lastId + 1, now.ToUnixTimeMilliseconds() << 16);
        return _lastId.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}
