namespace ScheduledPosts.ServiceDefaults.Batching;

/// <summary>
/// Requests of one kind, each awaited on its own, sent many per call: a request waits only while
/// <paramref name="callsInFlight"/> calls of its lane are already under way, and then goes with every request of its
/// lane that arrived meanwhile (up to <paramref name="maxPerCall"/>). A lone request goes at once, in a call of its own;
/// under load the calls fill up, so their fixed cost (a round trip, a transaction) is shared. Each lane (a workspace,
/// say) has calls of its own, so a lane with thousands of requests never holds up another's.
/// </summary>
/// <param name="call">
/// Answers one call's requests in their order. It is not cancelled by any one caller (a call cut short might have been
/// applied): it bounds itself. Its exception reaches every request it carried.
/// </param>
public sealed class Batcher<TRequest, TResponse>(int callsInFlight, int maxPerCall, Func<IReadOnlyList<TRequest>, Task<IReadOnlyList<TResponse>>> call)
{
    private readonly Dictionary<string, Lane> _lanes = new(StringComparer.Ordinal);
    private bool _stopped;

    /// <summary>One lane's requests waiting for a call, and its calls under way.</summary>
    private sealed class Lane
    {
        public Queue<(TRequest Request, TaskCompletionSource<TResponse> Answer)> Pending { get; } = new();
        public int Calls { get; set; }
    }

    /// <summary>The answer to <paramref name="request"/>, sent in the next call of <paramref name="lane"/> (null: the one shared lane).</summary>
    public Task<TResponse> SendAsync(string? lane, TRequest request)
    {
        var answer = new TaskCompletionSource<TResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        lane ??= "";
        lock (_lanes)
        {
            ObjectDisposedException.ThrowIf(_stopped, this);
            if (!_lanes.TryGetValue(lane, out var pending))
            {
                _lanes[lane] = pending = new Lane();
            }

            pending.Pending.Enqueue((request, answer));
        }

        Pump(lane);
        return answer.Task;
    }

    /// <summary>Takes no more requests; the calls under way finish.</summary>
    public void Stop()
    {
        lock (_lanes)
        {
            _stopped = true;
        }
    }

    /// <summary>Starts the lane's next calls while it has requests waiting and calls to spare; forgets it once idle.</summary>
    private void Pump(string lane)
    {
        var batches = new List<List<(TRequest Request, TaskCompletionSource<TResponse> Answer)>>();
        lock (_lanes)
        {
            if (!_lanes.TryGetValue(lane, out var state))
            {
                return;
            }

            while (state.Calls < callsInFlight && state.Pending.Count > 0)
            {
                var batch = new List<(TRequest, TaskCompletionSource<TResponse>)>();
                while (batch.Count < maxPerCall && state.Pending.TryDequeue(out var pending))
                {
                    batch.Add(pending);
                }

                state.Calls++;
                batches.Add(batch);
            }

            if (state.Calls == 0 && state.Pending.Count == 0)
            {
                _lanes.Remove(lane);
            }
        }

        foreach (var batch in batches)
        {
            _ = CallAsync(lane, batch);
        }
    }

    private async Task CallAsync(string lane, List<(TRequest Request, TaskCompletionSource<TResponse> Answer)> batch)
    {
        try
        {
            var answers = await call([.. batch.Select(b => b.Request)]);
            if (answers.Count != batch.Count)
            {
                throw new InvalidOperationException($"A batched call answered {answers.Count} of {batch.Count} requests.");
            }

            for (int i = 0; i < batch.Count; i++)
            {
                batch[i].Answer.TrySetResult(answers[i]);
            }
        }
        catch (Exception e)
        {
            foreach (var (_, answer) in batch)
            {
                answer.TrySetException(e);
            }
        }
        finally
        {
            lock (_lanes)
            {
                _lanes[lane].Calls--;
            }

            Pump(lane);
        }
    }
}
