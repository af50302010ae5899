using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Publisher.Publishing;

/// <summary>
/// Sends the replica's claims many per call (<c>Targets.ClaimTargets</c>, one transaction in the scheduling service).
/// A claim waits only while <see cref="SchedulingOptions.ClaimCallsInFlight"/> calls are already under way, and then goes
/// with every claim that arrived meanwhile (up to <see cref="SchedulingOptions.MaxClaimsPerCall"/>): a lone due target is
/// sent at once, on its own; a burst shares calls and transactions (docs/publishing.md#claims).
/// </summary>
public sealed class ClaimBatcher : IDisposable
{
    private readonly Channel<Pending> _pending = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Targets.TargetsClient _targets;
    private readonly SchedulingOptions _options;
    private readonly TimeProvider _clock;
    private readonly SemaphoreSlim _calls;

    public ClaimBatcher(Targets.TargetsClient targets, IOptions<SchedulingOptions> options, TimeProvider clock)
    {
        _targets = targets;
        _options = options.Value;
        _clock = clock;
        _calls = new SemaphoreSlim(_options.ClaimCallsInFlight);
        _ = Task.Run(SendLoopAsync);
    }

    /// <summary>The scheduling service's answer to this claim, as ClaimTarget would give it.</summary>
    /// <exception cref="RpcException">The call that carried the claim failed; nothing was claimed by it, or its lease will settle it.</exception>
    public Task<ClaimTargetResponse> ClaimAsync(ClaimTargetRequest request)
    {
        var pending = new Pending(request, new TaskCompletionSource<ClaimTargetResponse>(TaskCreationOptions.RunContinuationsAsynchronously));
        return _pending.Writer.TryWrite(pending) ? pending.Answer.Task : throw new ObjectDisposedException(nameof(ClaimBatcher));
    }

    private async Task SendLoopAsync()
    {
        var reader = _pending.Reader;
        while (await reader.WaitToReadAsync())
        {
            await _calls.WaitAsync();
            var batch = new List<Pending>();
            while (batch.Count < _options.MaxClaimsPerCall && reader.TryRead(out var pending))
            {
                batch.Add(pending);
            }

            _ = SendAsync(batch);
        }
    }

    private async Task SendAsync(List<Pending> batch)
    {
        try
        {
            // Not cancelled by anyone: a call cut short might have been granted. The deadline bounds it, and the scheduling
            // service grants nothing to a call whose deadline passed before it committed.
            var response = await _targets.ClaimTargetsAsync(new ClaimTargetsRequest { Claims = { batch.Select(p => p.Request) } },
                deadline: _clock.GetUtcNow().UtcDateTime + _options.CallTimeout);
            if (response.Results.Count != batch.Count)
            {
                throw new RpcException(new Status(StatusCode.Internal, $"ClaimTargets answered {response.Results.Count} claims of {batch.Count}."));
            }

            for (int i = 0; i < batch.Count; i++)
            {
                batch[i].Answer.TrySetResult(response.Results[i]);
            }
        }
        catch (Exception e)
        {
            foreach (var pending in batch)
            {
                pending.Answer.TrySetException(e);
            }
        }
        finally
        {
            _calls.Release();
        }
    }

    public void Dispose() => _pending.Writer.TryComplete();

    private sealed record Pending(ClaimTargetRequest Request, TaskCompletionSource<ClaimTargetResponse> Answer);
}
