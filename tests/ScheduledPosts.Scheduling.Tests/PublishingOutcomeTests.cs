using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>The scheduling side of docs/publishing.md with a short lease: retries on the durable schedule, expired claims, retry.</summary>
public sealed class PublishingOutcomeTests(PublishingOutcomeTests.ShortLeaseFactory factory) : IClassFixture<PublishingOutcomeTests.ShortLeaseFactory>
{
    public sealed class ShortLeaseFactory : SchedulingFactory
    {
        protected override void Configure(Dictionary<string, string> settings)
        {
            settings["Publishing:Lease"] = "00:00:03";
            settings["Publishing:RetryBase"] = "00:00:00.200";
            settings["Publishing:MaxAttempts"] = "3";
            settings["Publishing:ExpiredClaimQuietPeriod"] = "00:00:00.500";
        }
    }

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static string Id(JsonObject node) => node["id"]!.GetValue<string>();

    private async Task<(HttpClient Client, JsonObject Post, string TargetId)> DuePostAsync(int targets = 1)
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        var accounts = new List<string>();
        for (int i = 0; i < targets; i++)
        {
            accounts.Add(await ConnectAccountAsync(client, $"acct{i}"));
        }

        var post = await CreatePostAsync(client, [.. accounts], DateTimeOffset.UtcNow);
        return (client, post, post["targets"]![0]!["id"]!.GetValue<string>());
    }

    /// <summary>Claims the target once its <paramref name="dueMessages"/>th TargetDue (by default: one per attempt) arrived.</summary>
    private async Task<ClaimedTarget> ClaimWhenDueAsync(string postId, string targetId, int attempt, int? dueMessages = null)
    {
        var targets = factory.TargetsClient();
        var claim = await Eventually.Until(async () =>
        {
            var due = factory.Due.Where(d => d.Message.TargetId == targetId).Select(d => d.Message).ToList();
            return due.Count >= (dueMessages ?? attempt)
                ? await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = postId, TargetId = targetId, ScheduleVersion = due[^1].ScheduleVersion })
                : new ClaimTargetResponse();
        }, c => c.Claimed, Patience, $"attempt {attempt} to be due and claimed");
        Assert.Equal(attempt, claim.Target.Attempt);
        return claim.Target;
    }

    [Fact]
    public async Task A_retryable_failure_goes_back_on_the_schedule_and_the_attempts_are_bounded()
    {
        var (client, post, targetId) = await DuePostAsync();
        var targets = factory.TargetsClient();
        for (int attempt = 1; attempt <= 3; attempt++)
        {
            var claimed = await ClaimWhenDueAsync(Id(post), targetId, attempt);
            Assert.Equal(targetId, claimed.IdempotencyKey); // the same key on every attempt
            var result = await targets.CompleteTargetAsync(new CompleteTargetRequest
            {
                TargetId = targetId,
                LeaseToken = claimed.LeaseToken,
                Failed = new TargetFailed { ErrorCode = "PLATFORM_ERROR", ErrorMessage = "503 from the platform", Retryable = true },
            });
            Assert.Equal(attempt < 3 ? "scheduled" : "failed", result.TargetStatus);
        }

        var view = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}"))!;
        Assert.Equal("failed", Status(view));
        Assert.Equal("PLATFORM_ERROR", view["targets"]![0]!["errorCode"]!.GetValue<string>());
        Assert.Equal(3, view["targets"]![0]!["attemptCount"]!.GetValue<int>());
        Assert.Equal(3, factory.Due.Count(d => d.Message.TargetId == targetId));
    }

    [Fact]
    public async Task A_target_handed_back_busy_waits_its_turn_again_without_spending_an_attempt()
    {
        var (client, post, targetId) = await DuePostAsync();
        var targets = factory.TargetsClient();
        // More hand-backs than MaxAttempts (3): the publisher's own limits stayed full each time, nothing was sent.
        for (int turn = 1; turn <= 4; turn++)
        {
            var claimed = await ClaimWhenDueAsync(Id(post), targetId, attempt: 1, dueMessages: turn);
            var busy = await targets.CompleteTargetAsync(new CompleteTargetRequest
            {
                TargetId = targetId,
                LeaseToken = claimed.LeaseToken,
                Failed = new TargetFailed { ErrorCode = "PUBLISHER_BUSY", ErrorMessage = "The account's limits stayed full; nothing was sent.", Retryable = true },
            });
            Assert.Equal("scheduled", busy.TargetStatus);
        }

        var last = await ClaimWhenDueAsync(Id(post), targetId, attempt: 1, dueMessages: 5);
        var published = await targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = targetId,
            LeaseToken = last.LeaseToken,
            Published = new TargetPublished { ExternalPostId = "ext_busy", ExternalUrl = "https://example.test/ext_busy" },
        });

        Assert.Equal(("published", "published"), (published.TargetStatus, published.PostStatus));
        var view = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}"))!;
        Assert.Equal(1, view["targets"]![0]!["attemptCount"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("https://example.test/@alice/109", "https://example.test/@alice/109")]
    [InlineData("javascript:alert(document.cookie)", null)]
    [InlineData("data:text/html,<script>alert(1)</script>", null)]
    [InlineData("/relative/109", null)]
    public async Task A_published_posts_link_is_shown_only_when_it_is_a_web_address(string reported, string? shown)
    {
        var (client, post, targetId) = await DuePostAsync();
        var claimed = await ClaimWhenDueAsync(Id(post), targetId, attempt: 1);

        await factory.TargetsClient().CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = targetId,
            LeaseToken = claimed.LeaseToken,
            Published = new TargetPublished { ExternalPostId = "109", ExternalUrl = reported },
        });

        var view = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}"))!;
        Assert.Equal("published", view["targets"]![0]!["status"]!.GetValue<string>());
        Assert.Equal(shown, view["targets"]![0]!["externalUrl"]?.GetValue<string>());
    }

    [Fact]
    public async Task An_expired_claim_is_retried_with_the_same_key_on_a_platform_that_dedupes()
    {
        var (client, post, targetId) = await DuePostAsync();
        var first = await ClaimWhenDueAsync(Id(post), targetId, attempt: 1);

        // The publisher "dies": no report. The reaper puts the target back on the schedule after the lease.
        var second = await ClaimWhenDueAsync(Id(post), targetId, attempt: 2);
        Assert.Equal(first.IdempotencyKey, second.IdempotencyKey);
        Assert.NotEqual(first.LeaseToken, second.LeaseToken);
        Assert.Equal(first.ClaimEpoch + 1, second.ClaimEpoch);

        await factory.TargetsClient().CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = targetId,
            LeaseToken = second.LeaseToken,
            Published = new TargetPublished { ExternalPostId = "1" },
        });
        Assert.Equal("published", Status((await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}"))!));
    }

    [Fact]
    public async Task A_late_report_that_the_upload_of_an_expired_claim_went_out_is_kept_and_the_retry_taken_back()
    {
        var (client, post, targetId) = await DuePostAsync();
        var targets = factory.TargetsClient();
        var first = await ClaimWhenDueAsync(Id(post), targetId, attempt: 1);
        var requeued = await Eventually.Until(async () => (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}"))!,
            p => p["targets"]![0]!["errorCode"]?.GetValue<string>() == "LEASE_EXPIRED", Patience, "the reaper to requeue the expired claim");
        Assert.Equal("scheduled", requeued["targets"]![0]!["status"]!.GetValue<string>());
        var retry = await Eventually.Until(() => Task.FromResult(factory.Due.Where(d => d.Message.TargetId == targetId).Select(d => d.Message).ToList()),
            due => due.Count >= 2, Patience, "the retry to fall due");

        // The first publisher was slow, not dead: its upload went out, and its report arrives after the lease.
        var late = await targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = targetId,
            LeaseToken = first.LeaseToken,
            Published = new TargetPublished { ExternalPostId = "late", ExternalUrl = "https://sandbox.test/late" },
        });

        Assert.Equal(("published", "published"), (late.TargetStatus, late.PostStatus));
        var view = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}"))!;
        Assert.Equal("late", view["targets"]![0]!["externalPostId"]!.GetValue<string>());
        // No second upload: the retry, due and claimable a moment ago, can no longer be claimed.
        var again = await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = Id(post), TargetId = targetId, ScheduleVersion = retry[^1].ScheduleVersion });
        Assert.False(again.Claimed);

        // A failure reported for the old claim changes nothing.
        var stale = await targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = targetId,
            LeaseToken = first.LeaseToken,
            Failed = new TargetFailed { ErrorCode = "PLATFORM_ERROR", ErrorMessage = "503", Retryable = true },
        });
        Assert.Equal("published", stale.TargetStatus);
    }

    [Fact]
    public async Task A_renewed_lease_outlives_its_first_term_and_a_lost_claim_cannot_renew()
    {
        var (client, post, targetId) = await DuePostAsync();
        var targets = factory.TargetsClient();
        var claim = await ClaimWhenDueAsync(Id(post), targetId, attempt: 1);

        // Renewed every second for more than two leases of 3 s: the reaper never takes it.
        var until = claim.LeaseExpiresAt.ToDateTimeOffset() + TimeSpan.FromSeconds(4);
        var expires = claim.LeaseExpiresAt.ToDateTimeOffset();
        while (DateTimeOffset.UtcNow < until)
        {
            var renewed = await targets.RenewLeaseAsync(new RenewLeaseRequest { TargetId = targetId, LeaseToken = claim.LeaseToken });
            Assert.True(renewed.LeaseExpiresAt.ToDateTimeOffset() >= expires);
            expires = renewed.LeaseExpiresAt.ToDateTimeOffset();
            await Task.Delay(TimeSpan.FromSeconds(1)); // the publisher's own renewal cadence, a third of the lease
        }

        var view = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}"))!;
        Assert.Equal("publishing", view["targets"]![0]!["status"]!.GetValue<string>());
        Assert.Equal(1, view["targets"]![0]!["attemptCount"]!.GetValue<int>());

        await targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = targetId,
            LeaseToken = claim.LeaseToken,
            Published = new TargetPublished { ExternalPostId = "7" },
        });
        var refused = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(async () =>
            await targets.RenewLeaseAsync(new RenewLeaseRequest { TargetId = targetId, LeaseToken = claim.LeaseToken }));
        Assert.Equal(global::Grpc.Core.StatusCode.FailedPrecondition, refused.StatusCode);
    }

    [Fact]
    public async Task Retry_requeues_failed_targets_but_unknown_outcomes_only_when_asked()
    {
        var (client, post, targetId) = await DuePostAsync(targets: 2);
        string otherId = post["targets"]![1]!["id"]!.GetValue<string>();
        var targets = factory.TargetsClient();
        var a = await ClaimWhenDueAsync(Id(post), targetId, 1);
        var b = await ClaimWhenDueAsync(Id(post), otherId, 1);
        await targets.CompleteTargetAsync(new CompleteTargetRequest { TargetId = targetId, LeaseToken = a.LeaseToken, Failed = new TargetFailed { ErrorCode = "REJECTED", ErrorMessage = "422", Retryable = false } });
        var settled = await targets.CompleteTargetAsync(new CompleteTargetRequest { TargetId = otherId, LeaseToken = b.LeaseToken, Failed = new TargetFailed { ErrorCode = "UNKNOWN_OUTCOME", ErrorMessage = "timed out", Retryable = false } });
        Assert.Equal("failed", settled.PostStatus);

        var (retried, body) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/retry");
        Assert.Equal(HttpStatusCode.OK, retried);
        Assert.Equal("scheduled", body["targets"]![0]!["status"]!.GetValue<string>());
        Assert.Equal("failed", body["targets"]![1]!["status"]!.GetValue<string>());
        var again = await ClaimWhenDueAsync(Id(post), targetId, 1); // attempts start over
        await targets.CompleteTargetAsync(new CompleteTargetRequest { TargetId = targetId, LeaseToken = again.LeaseToken, Published = new TargetPublished { ExternalPostId = "9" } });
        Assert.Equal("partially_published", Status((await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}"))!));

        var (withoutFlag, error) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/retry");
        Assert.Equal(HttpStatusCode.Conflict, withoutFlag);
        Assert.Equal("CONFLICT", ErrorCode(error));
        var (withFlag, unknownRetried) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/retry", new { includeUnknown = true });
        Assert.Equal(HttpStatusCode.OK, withFlag);
        Assert.Equal("publishing", Status(unknownRetried));
        Assert.Equal("scheduled", unknownRetried["targets"]![1]!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Rescheduling_a_cancelled_post_does_not_run_a_target_of_unknown_outcome_again()
    {
        var (client, post, targetId) = await DuePostAsync(targets: 2);
        string otherId = post["targets"]![1]!["id"]!.GetValue<string>();
        var targets = factory.TargetsClient();
        var inFlight = await ClaimWhenDueAsync(Id(post), targetId, 1);
        var (cancelled, _) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/cancel");
        Assert.Equal(HttpStatusCode.OK, cancelled); // the other target had not been claimed yet
        var settled = await targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = targetId,
            LeaseToken = inFlight.LeaseToken,
            Failed = new TargetFailed { ErrorCode = "UNKNOWN_OUTCOME", ErrorMessage = "timed out after sending", Retryable = false },
        });
        Assert.Equal("cancelled", settled.PostStatus);

        var (rescheduled, body) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/reschedule",
            new { scheduledFor = Rfc3339(DateTimeOffset.UtcNow.AddHours(1)) });
        Assert.Equal(HttpStatusCode.OK, rescheduled);
        Assert.Equal("scheduled", Status(body));
        // The upload that may have gone out stays as it ended; only the cancelled target runs again.
        Assert.Equal("failed", body["targets"]![0]!["status"]!.GetValue<string>());
        Assert.Equal("UNKNOWN_OUTCOME", body["targets"]![0]!["errorCode"]!.GetValue<string>());
        Assert.Equal("scheduled", body["targets"]![1]!["status"]!.GetValue<string>());
        await using var connection = new Npgsql.NpgsqlConnection(factory.ConnectionString);
        await connection.OpenAsync();
        await using var pending = new Npgsql.NpgsqlCommand(
            "SELECT array_agg(payload->>'targetId') FROM scheduling.outbox WHERE post_id = @post AND sent_at IS NULL", connection);
        pending.Parameters.AddWithValue("post", Id(post));
        Assert.Equal([otherId], (string[])(await pending.ExecuteScalarAsync())!);
    }
}
