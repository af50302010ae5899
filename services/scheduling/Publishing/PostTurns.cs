namespace ScheduledPosts.Scheduling.Publishing;

/// <summary>
/// One claim per post at a time within this replica. Every claim takes its post's row lock, so claims of one post's
/// targets run one after another anyway; waiting for the turn here, rather than in PostgreSQL, holds no connection while
/// it waits, so a post with many due targets does not take a connection per target from everyone else
/// (docs/publishing.md#claims). The row lock still orders claims across replicas and against cancels.
/// </summary>
public sealed class PostTurns
{
    private readonly Dictionary<string, Turns> _posts = new(StringComparer.Ordinal);

    /// <summary>Waits for the post's turn; dispose the result to pass it on.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled while waiting.</exception>
    public async Task<IDisposable> TakeAsync(string postId, CancellationToken ct)
    {
        Turns turns;
        lock (_posts)
        {
            if (!_posts.TryGetValue(postId, out turns!))
            {
                turns = new Turns();
                _posts[postId] = turns;
            }

            turns.Users++;
        }

        try
        {
            await turns.Gate.WaitAsync(ct);
        }
        catch
        {
            Leave(postId, turns);
            throw;
        }

        return new Turn(this, postId, turns);
    }

    /// <summary>How many posts have a claim running or waiting (for tests).</summary>
    public int Count
    {
        get
        {
            lock (_posts)
            {
                return _posts.Count;
            }
        }
    }

    private void Leave(string postId, Turns turns)
    {
        lock (_posts)
        {
            if (--turns.Users == 0)
            {
                _posts.Remove(postId);
                turns.Dispose();
            }
        }
    }

    private sealed class Turns : IDisposable
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        /// <summary>Claims holding or waiting for the turn; guarded by the dictionary's lock.</summary>
        public int Users { get; set; }

        public void Dispose() => Gate.Dispose();
    }

    private sealed class Turn(PostTurns owner, string postId, Turns turns) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                turns.Gate.Release();
                owner.Leave(postId, turns);
            }
        }
    }
}
