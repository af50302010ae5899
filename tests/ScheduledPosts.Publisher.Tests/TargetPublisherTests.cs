using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Publishing;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>Claim, upload, complete — against an in-memory scheduling gRPC API and a scripted connector.</summary>
public sealed class TargetPublisherTests : IAsyncLifetime
{
    private FakeScheduling _scheduling = null!;
    private readonly ScriptedConnector _connector = new();

    public async Task InitializeAsync() => _scheduling = await FakeScheduling.StartAsync();

    public async Task DisposeAsync() => await _scheduling.DisposeAsync();

    [Fact]
    public async Task A_target_that_is_not_claimed_is_dropped_without_uploading()
    {
        _scheduling.Targets.OnClaim = _ => new ClaimTargetResponse { Claimed = false, Reason = "stale" };

        var result = await Publisher().PublishAsync(new TargetDue("post_1", "tgt_1", 3), CancellationToken.None);

        Assert.Null(result);
        var claim = Assert.Single(_scheduling.Targets.Claims);
        Assert.Equal(("post_1", "tgt_1", 3L), (claim.PostId, claim.TargetId, claim.ScheduleVersion));
        Assert.Equal(0, _connector.Calls);
        Assert.Empty(_scheduling.Targets.Completions);
    }

    [Fact]
    public async Task Claims_made_while_a_claim_call_is_under_way_share_the_next_call_and_each_gets_its_own_answer()
    {
        var firstCallArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var releaseFirstCall = new ManualResetEventSlim();
        _scheduling.Targets.OnClaim = r =>
        {
            if (r.TargetId == "tgt_0")
            {
                firstCallArrived.TrySetResult();
                releaseFirstCall.Wait(TimeSpan.FromSeconds(30));
            }

            // Every other target is stale: its message is dropped, as the real service would answer.
            return r.TargetId.EndsWith('0') ? FakeTargetsService.Granted(r, ScriptedConnector.Name, "alice", $"text of {r.TargetId}")
                : new ClaimTargetResponse { Claimed = false, Reason = "stale" };
        };
        _connector.Answer = upload => new ConnectorResult.Published($"ext_{upload.Text}", "https://example.test/status");
        var publisher = Publish(_scheduling, [_connector], callsInFlight: 1);

        var first = publisher.PublishAsync(new TargetDue("post_0", "tgt_0", 1), CancellationToken.None);
        await firstCallArrived.Task.WaitAsync(TimeSpan.FromSeconds(20));
        var rest = Enumerable.Range(1, 49).Select(i => publisher.PublishAsync(new TargetDue($"post_{i}", $"tgt_{i}", 1), CancellationToken.None)).ToList();
        releaseFirstCall.Set();
        var results = await Task.WhenAll(rest.Prepend(first)).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal([1, 49], _scheduling.Targets.ClaimCallSizes);
        for (int i = 0; i < 50; i++)
        {
            // Each message got the answer to its own claim: tgt_0, tgt_10, … uploaded with their own text, the rest dropped.
            Assert.Equal(i % 10 == 0 ? $"ext_text of tgt_{i}" : (string?)null, (results[i] as ConnectorResult.Published)?.ExternalId);
        }

        Assert.Equal(5, _connector.Calls);
        Assert.Equal(["tgt_0", "tgt_10", "tgt_20", "tgt_30", "tgt_40"], _scheduling.Targets.Completions.Select(c => c.TargetId).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Another_workspaces_claim_goes_at_once_in_a_call_of_its_own_while_a_busy_workspaces_calls_are_under_way()
    {
        var busyCallArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var releaseBusyCall = new ManualResetEventSlim();
        _scheduling.Targets.OnClaim = r =>
        {
            if (r.TargetId == "tgt_busy_0")
            {
                busyCallArrived.TrySetResult();
                releaseBusyCall.Wait(TimeSpan.FromSeconds(30));
            }

            return FakeTargetsService.Granted(r, ScriptedConnector.Name, "alice", $"text of {r.TargetId}");
        };
        _connector.Answer = upload => new ConnectorResult.Published($"ext_{upload.Text}", "https://example.test/status");
        var publisher = Publish(_scheduling, [_connector], callsInFlight: 1);

        // The busy workspace's one call in flight is held; its next claims wait for it.
        var busy = Enumerable.Range(0, 5).Select(i => publisher.PublishAsync(new TargetDue($"post_busy_{i}", $"tgt_busy_{i}", 1, "ws_busy"), CancellationToken.None)).ToList();
        await busyCallArrived.Task.WaitAsync(TimeSpan.FromSeconds(20));
        var quiet = await publisher.PublishAsync(new TargetDue("post_quiet", "tgt_quiet", 1, "ws_quiet"), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal("ext_text of tgt_quiet", Assert.IsType<ConnectorResult.Published>(quiet).ExternalId);
        Assert.All(busy, b => Assert.False(b.IsCompleted));
        releaseBusyCall.Set();
        await Task.WhenAll(busy).WaitAsync(TimeSpan.FromSeconds(20));
        // The busy workspace's first call, the quiet one's, then the four busy claims that waited, together.
        Assert.Equal([1, 1, 4], _scheduling.Targets.ClaimCallSizes);
        Assert.Equal(6, _connector.Calls);
    }

    [Fact]
    public async Task A_claim_and_a_report_a_batch_left_to_their_busy_post_are_sent_again_alone_and_the_target_is_published_once()
    {
        _scheduling.Targets.OnClaim = r => FakeTargetsService.Granted(r, ScriptedConnector.Name, "alice", $"text of {r.TargetId}");
        _scheduling.Targets.BusyInBatches = targetId => targetId == "tgt_busy";
        _connector.Answer = upload => new ConnectorResult.Published($"ext_{upload.Text}", "https://example.test/status");
        var publisher = Publisher();

        var results = await Task.WhenAll(
            publisher.PublishAsync(new TargetDue("post_busy", "tgt_busy", 1), CancellationToken.None),
            publisher.PublishAsync(new TargetDue("post_quiet", "tgt_quiet", 1), CancellationToken.None)).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(["ext_text of tgt_busy", "ext_text of tgt_quiet"], results.Select(r => Assert.IsType<ConnectorResult.Published>(r).ExternalId));
        // The busy target's claim and report each went once more, on their own; the quiet one's never needed to.
        Assert.Equal([("ClaimTarget", "tgt_busy"), ("CompleteTarget", "tgt_busy")], _scheduling.Targets.SingleCalls.Where(c => c.TargetId != ClaimPathWarmup.Probe.TargetId));
        Assert.Equal(2, _connector.Calls);
        Assert.Equal(["tgt_busy", "tgt_quiet"], _scheduling.Targets.Completions.Select(c => c.TargetId).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_failed_claim_call_fails_every_claim_it_carried_so_their_messages_are_retried()
    {
        _scheduling.Targets.OnClaim = _ => throw new RpcException(new Status(StatusCode.Unavailable, "scheduling is restarting"));
        var publisher = Publisher();

        var claims = Enumerable.Range(0, 10).Select(i => publisher.PublishAsync(new TargetDue($"post_{i}", $"tgt_{i}", 1), CancellationToken.None)).ToList();

        foreach (var claim in claims)
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => claim);
            Assert.True(TargetPublisher.IsTransient(error));
        }

        Assert.Equal(0, _connector.Calls);
    }

    [Fact]
    public async Task A_published_target_is_completed_with_the_platforms_id_and_url_under_its_lease()
    {
        _scheduling.Targets.OnClaim = r => FakeTargetsService.Granted(r, ScriptedConnector.Name, "alice", "Hello");
        _connector.Answer = _ => new ConnectorResult.Published("109876", "https://example.test/@alice/109876");

        await Publisher().PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        var uploaded = Assert.Single(_connector.Targets);
        Assert.Equal(("alice", "Hello", "tgt_1:publish"), (uploaded.AccountHandle, uploaded.Text, uploaded.IdempotencyKey));
        var completion = Assert.Single(_scheduling.Targets.Completions);
        Assert.Equal(("tgt_1", "lease_tgt_1"), (completion.TargetId, completion.LeaseToken));
        Assert.Equal("109876", completion.Published.ExternalPostId);
        Assert.Equal("https://example.test/@alice/109876", completion.Published.ExternalUrl);
        Assert.All(_scheduling.Targets.Callers, c => Assert.Equal("svc_publisher", c.KeyId));
    }

    [Fact]
    public async Task A_platform_failure_is_completed_with_its_code_and_whether_to_retry()
    {
        _scheduling.Targets.OnClaim = r => FakeTargetsService.Granted(r, ScriptedConnector.Name, "alice", "Hello");
        _connector.Answer = _ => new ConnectorResult.Failed(ConnectorErrors.RateLimited, "slow down", Retryable: true, TimeSpan.FromSeconds(30));

        await Publisher().PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        var failed = Assert.Single(_scheduling.Targets.Completions).Failed;
        Assert.Equal((ConnectorErrors.RateLimited, "slow down", true), (failed.ErrorCode, failed.ErrorMessage, failed.Retryable));
        Assert.Equal(TimeSpan.FromSeconds(30), failed.RetryAfter.ToTimeSpan());
    }

    [Fact]
    public async Task A_failure_without_a_retry_after_is_reported_without_one()
    {
        _scheduling.Targets.OnClaim = r => FakeTargetsService.Granted(r, ScriptedConnector.Name, "alice", "Hello");
        _connector.Answer = _ => new ConnectorResult.Failed(ConnectorErrors.PlatformError, "oops", Retryable: true);

        await Publisher().PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        Assert.Null(Assert.Single(_scheduling.Targets.Completions).Failed.RetryAfter);
    }

    [Fact]
    public async Task A_platform_without_a_connector_fails_for_good()
    {
        _scheduling.Targets.OnClaim = r => FakeTargetsService.Granted(r, "myspace", "alice", "Hello");

        await Publisher().PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        var failed = Assert.Single(_scheduling.Targets.Completions).Failed;
        Assert.Equal(ConnectorErrors.UnsupportedPlatform, failed.ErrorCode);
        Assert.False(failed.Retryable);
        Assert.Equal(0, _connector.Calls);
    }

    [Fact]
    public async Task A_connector_crash_on_a_platform_without_idempotency_keys_ends_as_unknown_outcome_and_is_not_retried()
    {
        var connector = new ScriptedConnector(idempotent: false) { Answer = _ => throw new InvalidOperationException("bug after the upload went out") };
        _scheduling.Targets.OnClaim = r => FakeTargetsService.Granted(r, ScriptedConnector.Name, "alice", "Hello");

        await Publish(_scheduling, [connector]).PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        var failed = Assert.Single(_scheduling.Targets.Completions).Failed;
        Assert.Equal(ConnectorErrors.UnknownOutcome, failed.ErrorCode);
        Assert.False(failed.Retryable);
    }

    [Fact]
    public async Task A_connector_crash_on_a_platform_with_idempotency_keys_is_retried_under_the_same_key()
    {
        _scheduling.Targets.OnClaim = r => FakeTargetsService.Granted(r, ScriptedConnector.Name, "alice", "Hello");
        _connector.Answer = _ => throw new InvalidOperationException("bug after the upload went out");

        await Publisher().PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        var failed = Assert.Single(_scheduling.Targets.Completions).Failed;
        Assert.Equal(ConnectorErrors.ConnectorFault, failed.ErrorCode);
        Assert.True(failed.Retryable);
    }

    [Theory]
    [InlineData(true, ConnectorErrors.Timeout, true)]
    [InlineData(false, ConnectorErrors.UnknownOutcome, false)]
    public async Task A_timeout_after_sending_is_retried_only_where_the_platform_honours_idempotency_keys(bool idempotent, string code, bool retryable)
    {
        var connector = new ScriptedConnector(idempotent) { Answer = _ => ConnectorResult.Unknown(ConnectorErrors.Timeout, "no answer in 30 s.") };
        _scheduling.Targets.OnClaim = r => FakeTargetsService.Granted(r, ScriptedConnector.Name, "alice", "Hello");

        await Publish(_scheduling, [connector]).PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        var failed = Assert.Single(_scheduling.Targets.Completions).Failed;
        Assert.Equal((code, retryable), (failed.ErrorCode, failed.Retryable));
        Assert.Contains("no answer in 30 s.", failed.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_known_failure_on_a_platform_without_idempotency_keys_keeps_its_code()
    {
        var connector = new ScriptedConnector(idempotent: false) { Answer = _ => new ConnectorResult.Failed(ConnectorErrors.PlatformError, "503", Retryable: true) };
        _scheduling.Targets.OnClaim = r => FakeTargetsService.Granted(r, ScriptedConnector.Name, "alice", "Hello");

        await Publish(_scheduling, [connector]).PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        var failed = Assert.Single(_scheduling.Targets.Completions).Failed;
        Assert.Equal((ConnectorErrors.PlatformError, true), (failed.ErrorCode, failed.Retryable));
    }

    [Fact]
    public async Task The_connector_gets_the_claims_credentials_and_first_comment()
    {
        _scheduling.Targets.OnClaim = r =>
        {
            var granted = FakeTargetsService.Granted(r, ScriptedConnector.Name, "alice", "Hello");
            granted.Target.CredentialsJson = """{"accessToken":"secret"}""";
            granted.Target.FirstComment = "More in the thread";
            return granted;
        };
        _connector.Answer = _ => new ConnectorResult.Published("1", "https://example.test/@alice/1");

        await Publisher().PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        var upload = Assert.Single(_connector.Targets);
        Assert.Equal(("""{"accessToken":"secret"}""", "More in the thread"), (upload.CredentialsJson, upload.FirstComment));
    }

    [Fact]
    public async Task An_outcome_is_reported_again_while_the_scheduling_service_is_briefly_down_without_uploading_again()
    {
        _scheduling.Targets.OnClaim = r => FakeTargetsService.Granted(r, ScriptedConnector.Name, "alice", "Hello");
        _connector.Answer = _ => new ConnectorResult.Published("1", "https://example.test/@alice/1");
        _scheduling.Targets.FailNextCompletions(2);

        await Publisher().PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        Assert.Equal("1", Assert.Single(_scheduling.Targets.Completions).Published.ExternalPostId);
        Assert.Equal(1, _connector.Calls);
    }

    [Fact]
    public async Task An_outcome_that_cannot_be_reported_is_left_to_the_lease_rather_than_redelivered()
    {
        _scheduling.Targets.OnClaim = r => FakeTargetsService.Granted(r, ScriptedConnector.Name, "alice", "Hello");
        _connector.Answer = _ => new ConnectorResult.Published("1", "https://example.test/@alice/1");
        _scheduling.Targets.FailNextCompletions(100);

        var result = await Publisher().PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        Assert.IsType<ConnectorResult.Published>(result);
        Assert.Empty(_scheduling.Targets.Completions);
        Assert.Equal(1, _connector.Calls);
    }

    [Fact]
    public async Task A_target_claimed_as_the_publisher_stops_is_handed_back_without_uploading()
    {
        using var stopping = new CancellationTokenSource();
        _scheduling.Targets.OnClaim = r =>
        {
            stopping.Cancel();
            return FakeTargetsService.Granted(r, ScriptedConnector.Name, "alice", "Hello");
        };
        _connector.Answer = _ => new ConnectorResult.Published("1", "https://example.test/@alice/1");

        await Publisher().PublishAsync(new TargetDue("post_1", "tgt_1", 1), stopping.Token);

        var failed = Assert.Single(_scheduling.Targets.Completions).Failed;
        Assert.Equal((ConnectorErrors.PublisherStopping, true), (failed.ErrorCode, failed.Retryable));
        Assert.Equal(0, _connector.Calls);
    }

    [Fact]
    public async Task Nothing_is_claimed_once_the_publisher_is_stopping()
    {
        _scheduling.Targets.OnClaim = r => FakeTargetsService.Granted(r, ScriptedConnector.Name, "alice", "Hello");

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => Publisher().PublishAsync(new TargetDue("post_1", "tgt_1", 1), new CancellationToken(canceled: true)));

        Assert.Empty(_scheduling.Targets.Claims);
    }

    [Fact]
    public async Task When_the_claim_cannot_reach_the_scheduling_service_nothing_is_uploaded_and_the_fault_surfaces_for_retry()
    {
        _scheduling.Targets.OnClaim = _ => throw new RpcException(new Status(StatusCode.Unavailable, "down"));

        var error = await Assert.ThrowsAsync<RpcException>(() => Publisher().PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None));

        Assert.True(TargetPublisher.IsTransient(error));
        Assert.Equal(0, _connector.Calls);
    }

    private TargetPublisher Publisher() => Publish(_scheduling, [_connector]);

    /// <summary>A publisher wired as the service wires it, with quick retries of the report.</summary>
    internal static TargetPublisher Publish(FakeScheduling scheduling, IConnector[] connectors, UploadLimitsOptions? limits = null, int callsInFlight = 2)
    {
        limits ??= new UploadLimitsOptions();
        var client = scheduling.CreateClient();
        var options = Options.Create(new SchedulingOptions
        {
            CompleteRetries = 3, CompleteRetryDelay = TimeSpan.FromMilliseconds(10), CallsInFlight = callsInFlight,
        });
        return new TargetPublisher(
            client,
            new TargetsBatcher(client, options, TimeProvider.System),
            new ConnectorRegistry(connectors),
            new UploadLimits(Options.Create(limits), TimeProvider.System),
            options,
            Options.Create(limits),
            TimeProvider.System,
            NullLogger<TargetPublisher>.Instance);
    }

    internal sealed class ScriptedConnector(bool idempotent = true) : IConnector
    {
        public const string Name = "scripted";
        private int _calls;

        public PlatformCapabilities Capabilities { get; } = new(Name, 500, SupportsIdempotencyKey: idempotent, SupportsFirstComment: false, [MediaKind.Image], MaxMedia: 4);
        public Func<Upload, ConnectorResult> Answer { get; set; } = _ => throw new InvalidOperationException("not scripted");
        public List<Upload> Targets { get; } = [];
        public int Calls => _calls;

        public Task<ConnectorResult> PublishAsync(Upload target, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            lock (Targets)
            {
                Targets.Add(target);
            }

            return Task.FromResult(Answer(target));
        }
    }
}
