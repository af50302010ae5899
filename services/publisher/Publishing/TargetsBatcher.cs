using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Publisher.Publishing;

/// <summary>
/// Sends the replica's claims and reports many per call (<c>Targets.ClaimTargets</c>, <c>Targets.CompleteTargets</c>:
/// each call one transaction in the scheduling service). A claim or report waits only while
/// <see cref="SchedulingOptions.CallsInFlight"/> calls of its kind are already under way, and then goes with every
/// one that arrived meanwhile (up to <see cref="SchedulingOptions.MaxPerCall"/>): a lone due target is claimed and
/// reported at once, on its own; a burst shares calls and transactions (docs/publishing.md#claims). A claim or report
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
    public async Task<ClaimTargetResponse> ClaimAsync(ClaimTargetRequest request)
    {
        var answer = await _claims.SendAsync(request);
        return answer is { Claimed: false, Reason: PostBusy }
            ? await _targets.ClaimTargetAsync(request, deadline: Deadline())
            : answer;
    }

    /// <summary>The scheduling service's answer to this report, as CompleteTarget would give it.</summary>
    /// <exception cref="RpcException">
    /// The call that carried the report failed (it may be sent again: a repeated report is answered as before), or the
    /// report was refused (<see cref="StatusCode.FailedPrecondition"/>, <see cref="StatusCode.NotFound"/>, <see cref="StatusCode.InvalidArgument"/>).
    /// </exception>
    public async Task<CompleteTargetResponse> CompleteAsync(CompleteTargetRequest request)
    {
        var result = await _reports.SendAsync(request);
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
        _claims.Dispose();
        _reports.Dispose();
    }

    /// <summary>Requests of one kind, gathered while earlier calls are under way and sent many per call.</summary>
    private sealed class Batcher<TRequest, TResponse> : IDisposable
    {
        private readonly Channel<(TRequest Request, TaskCompletionSource<TResponse> Answer)> _pending =
            Channel.CreateUnbounded<(TRequest, TaskCompletionSource<TResponse>)>(new UnboundedChannelOptions { SingleReader = true });
        private readonly SchedulingOptions _options;
        private readonly TimeProvider _clock;
        private readonly Func<List<TRequest>, DateTime, Task<IReadOnlyList<TResponse>>> _call;
        private readonly SemaphoreSlim _calls;

        public Batcher(SchedulingOptions options, TimeProvider clock, Func<List<TRequest>, DateTime, Task<IReadOnlyList<TResponse>>> call)
        {
            _options = options;
            _clock = clock;
            _call = call;
            _calls = new SemaphoreSlim(options.CallsInFlight);
            _ = Task.Run(SendLoopAsync);
        }

        public Task<TResponse> SendAsync(TRequest request)
        {
            var answer = new TaskCompletionSource<TResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
            return _pending.Writer.TryWrite((request, answer)) ? answer.Task : throw new ObjectDisposedException(nameof(TargetsBatcher));
        }

        private async Task SendLoopAsync()
        {
            var reader = _pending.Reader;
            while (await reader.WaitToReadAsync())
            {
                await _calls.WaitAsync();
                var batch = new List<(TRequest Request, TaskCompletionSource<TResponse> Answer)>();
                while (batch.Count < _options.MaxPerCall && reader.TryRead(out var pending))
                {
                    batch.Add(pending);
                }

                _ = CallAsync(batch);
            }
        }

        private async Task CallAsync(List<(TRequest Request, TaskCompletionSource<TResponse> Answer)> batch)
        {
            try
            {
                // Not cancelled by anyone: a call cut short might have been applied. The deadline bounds it, and the
                // scheduling service grants no claim to a call whose deadline passed before it committed.
                var answers = await _call([.. batch.Select(b => b.Request)], _clock.GetUtcNow().UtcDateTime + _options.CallTimeout);
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
                _calls.Release();
            }
        }

        public void Dispose() => _pending.Writer.TryComplete();
    }
}
