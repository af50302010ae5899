using Grpc.Core;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.ServiceDefaults.Batching;

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
        // Each call bounded by its deadline: the scheduling service grants no claim to a call whose deadline passed before it committed.
        _claims = new(_options.CallsInFlight, _options.MaxPerCall, async batch =>
            (await targets.ClaimTargetsAsync(new ClaimTargetsRequest { Claims = { batch } }, deadline: Deadline())).Results);
        _reports = new(_options.CallsInFlight, _options.MaxPerCall, async batch =>
            (await targets.CompleteTargetsAsync(new CompleteTargetsRequest { Reports = { batch } }, deadline: Deadline())).Results);
    }

    /// <summary>The scheduling service's answer to this claim, as ClaimTarget would give it.</summary>
    /// <exception cref="RpcException">The call that carried the claim failed; nothing was claimed by it, or its lease will settle it.</exception>
    public async Task<ClaimTargetResponse> ClaimAsync(string? workspaceId, ClaimTargetRequest request)
    {
        var answer = await _claims.SendAsync(workspaceId, request);
        return answer is { Claimed: false, Reason: BusyPost.ClaimReason }
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
        if (result.ErrorCode == BusyPost.ReportErrorCode)
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

    private DateTime Deadline() => _options.CallDeadline(_clock);

    public void Dispose()
    {
        _claims.Stop();
        _reports.Stop();
    }
}
