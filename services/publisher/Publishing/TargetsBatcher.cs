using Grpc.Core;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Publisher.Publishing;

/// <summary>
/// Sends the replica's claims and reports many per call (<c>Targets.ClaimTargets</c>, <c>Targets.CompleteTargets</c>:
/// each call one transaction in the scheduling service), each workspace's in calls of its own. A claim or report waits
/// only while <see cref="SchedulingOptions.CallsInFlight"/> calls of its kind and its workspace are already under way,
/// and then goes with every one of them that arrived meanwhile (up to <see cref="SchedulingOptions.MaxPerCall"/>): a
/// lone due target is claimed and reported at once, on its own; a burst shares calls and transactions, and never holds
/// up another workspace's claims (docs/publishing.md#claims). A claim or report
/// whose post another transaction held when its call ran was left undone (<c>post_busy</c>): it is sent again on its
/// own (ClaimTarget, CompleteTarget), which waits for the post, so a busy post delays only its own targets.
/// </summary>
public sealed class TargetsBatcher : IDisposable
{
    private readonly Batcher<ClaimTargetRequest, ClaimTargetResponse> _claims;
    private readonly Batcher<CompleteTargetRequest, CompleteTargetsResult> _reports;
    private readonly Targets.TargetsClient _targets;
    private readonly SchedulingOptions _options;
    private readonly TimeProvider _clock;

    public TargetsBatcher(Targets.TargetsClient targets, IOptions<SchedulingOptions> options, TimeProvider clock)
    {
        _targets = targets;
        _options = options.Value;
        _clock = clock;
        _claims = new(options.Value, clock, async (batch, deadline) =>
            (await targets.ClaimTargetsAsync(new ClaimTargetsRequest { Claims = { batch } }, deadline: deadline)).Results);
        _reports = new(options.Value, clock, async (batch, deadline) =>
            (await targets.CompleteTargetsAsync(new CompleteTargetsRequest { Reports = { batch } }, deadline: deadline)).Results);
    }

    /// <summary>The scheduling service's answer to this claim, as ClaimTarget would give it.</summary>
    /// <exception cref="RpcException">The call that carried the claim failed; nothing was claimed by it, or its lease will settle it.</exception>
    public async Task<ClaimTargetResponse> ClaimAsync(string? workspaceId, ClaimTargetRequest request)
    {
        var answer = await _claims.SendAsync(workspaceId, request);
        return answer is { Claimed: false, Reason: PostBusy }
            ? await _targets.ClaimTargetAsync(request, deadline: Deadline())
            : answer;
    }

    /// <summary>The scheduling service's answer to this report, as CompleteTarget would give it.</summary>
    /// <exception cref="RpcException">
    /// The call that carried the report failed (it may be sent again: a repeated report is answered as before), or the
    /// report was refused (<see cref="StatusCode.FailedPrecondition"/>, <see cref="StatusCode.NotFound"/>, <see cref="StatusCode.InvalidArgument"/>).
    /// </exception>
    public async Task<CompleteTargetResponse> CompleteAsync(string workspaceId, CompleteTargetRequest request)
    {
        var result = await _reports.SendAsync(workspaceId, request);
        if (result.ErrorCode == PostBusyCode)
        {
            return await _targets.CompleteTargetAsync(request, deadline: Deadline());
        }

        return result.Completed ?? throw new RpcException(new Status(result.ErrorCode switch
        {
            "NOT_FOUND" => StatusCode.NotFound,
            "CONFLICT" => StatusCode.FailedPrecondition,
            _ => StatusCode.InvalidArgument,
        }, $"{result.ErrorCode}: {result.ErrorMessage}"));
    }

    /// <summary>What the scheduling service answers a claim (reason) or a report (error code) of a batch it left undone.</summary>
    private const string PostBusy = "post_busy", PostBusyCode = "POST_BUSY";

    private DateTime Deadline() => _clock.GetUtcNow().UtcDateTime + _options.CallTimeout;

    public void Dispose()
    {
        _claims.Stop();
        _reports.Stop();
    }

    /// <summary>
    /// Requests of one kind, gathered while earlier calls are under way and sent many per call, in lanes: each workspace's
    /// requests go in calls of their own, at most <see cref="SchedulingOptions.CallsInFlight"/> of its calls under way
    /// at once. A workspace with thousands of due targets fills its own calls; another's claim or report goes at once in
    /// a call of its own, never waiting behind them (docs/publishing.md#fair-shares).
    /// </summary>
    private sealed class Batcher<TRequest, TResponse>(
        SchedulingOptions options, TimeProvider clock, Func<List<TRequest>, DateTime, Task<IReadOnlyList<TResponse>>> call)
    {
        private readonly Dictionary<string, Lane> _lanes = new(StringComparer.Ordinal);
        private bool _stopped;

        /// <summary>One workspace's requests waiting for a call, and its calls under way.</summary>
        private sealed class Lane
        {
            public Queue<(TRequest Request, TaskCompletionSource<TResponse> Answer)> Pending { get; } = new();
            public int Calls { get; set; }
        }

        public Task<TResponse> SendAsync(string? lane, TRequest request)
        {
            var answer = new TaskCompletionSource<TResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
            lane ??= "";
            lock (_lanes)
            {
                ObjectDisposedException.ThrowIf(_stopped, typeof(TargetsBatcher));
                if (!_lanes.TryGetValue(lane, out var pending))
                {
                    _lanes[lane] = pending = new Lane();
                }

                pending.Pending.Enqueue((request, answer));
            }

            Pump(lane);
            return answer.Task;
        }

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

                while (state.Calls < options.CallsInFlight && state.Pending.Count > 0)
                {
                    var batch = new List<(TRequest, TaskCompletionSource<TResponse>)>();
                    while (batch.Count < options.MaxPerCall && state.Pending.TryDequeue(out var pending))
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
                // Not cancelled by anyone: a call cut short might have been applied. The deadline bounds it, and the
                // scheduling service grants no claim to a call whose deadline passed before it committed.
                var answers = await call([.. batch.Select(b => b.Request)], clock.GetUtcNow().UtcDateTime + options.CallTimeout);
                if (answers.Count != batch.Count)
                {
                    throw new RpcException(new Status(StatusCode.Internal, $"The scheduling service answered {answers.Count} of {batch.Count}."));
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
}
