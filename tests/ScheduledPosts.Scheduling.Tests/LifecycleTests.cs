using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>The rules of docs/api.md#lifecycle-rules, one by one, against real PostgreSQL and RabbitMQ.</summary>
public sealed class LifecycleTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static string Id(JsonObject node) => node["id"]!.GetValue<string>();

    private async Task<(HttpClient Client, string Account)> WorkspaceAsync()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        return (client, await ConnectAccountAsync(client));
    }

    [Fact]
    public async Task A_draft_can_be_edited_and_scheduled_after_which_its_caption_and_targets_are_frozen()
    {
        var (client, account) = await WorkspaceAsync();
        string second = await ConnectAccountAsync(client, "bob");
        var draft = await CreatePostAsync(client, [account], scheduledFor: null, "First words");
        Assert.Equal("draft", Status(draft));

        var (status, edited) = await SendAsync(client, HttpMethod.Patch, $"/v1/posts/{Id(draft)}", new
        {
            caption = "Better words",
            targets = new[] { new { socialAccountId = second, captionOverride = "Bob's words" } },
            timezone = "Europe/Paris",
            metadata = new Dictionary<string, string> { ["campaign"] = "spring" },
        });
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Better words", edited["caption"]!.GetValue<string>());
        Assert.Equal(second, edited["targets"]![0]!["socialAccountId"]!.GetValue<string>());
        Assert.Equal("Bob's words", edited["targets"]![0]!["captionOverride"]!.GetValue<string>());
        Assert.Equal("Europe/Paris", edited["timezone"]!.GetValue<string>());
        Assert.Equal("spring", edited["metadata"]!["campaign"]!.GetValue<string>());

        var (scheduledStatus, scheduled) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(draft)}/schedule",
            new { scheduledFor = Rfc3339(DateTimeOffset.UtcNow.AddHours(1)) });
        Assert.Equal(HttpStatusCode.OK, scheduledStatus);
        Assert.Equal("scheduled", Status(scheduled));
        Assert.Equal("scheduled", scheduled["targets"]![0]!["status"]!.GetValue<string>());

        var (frozen, error) = await SendAsync(client, HttpMethod.Patch, $"/v1/posts/{Id(draft)}", new { caption = "Too late" });
        Assert.Equal(HttpStatusCode.Conflict, frozen);
        Assert.Equal("CONFLICT", ErrorCode(error));
        var (again, _) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(draft)}/schedule", new { scheduledFor = Rfc3339(DateTimeOffset.UtcNow.AddHours(2)) });
        Assert.Equal(HttpStatusCode.Conflict, again);
        Assert.Equal("Better words", (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(draft)}"))!["caption"]!.GetValue<string>());
    }

    [Fact]
    public async Task Scheduling_with_a_bad_time_is_422_and_changes_nothing()
    {
        var (client, account) = await WorkspaceAsync();
        var draft = await CreatePostAsync(client, [account], scheduledFor: null);
        foreach (string bad in new[] { "2030-01-01T10:00:00", Rfc3339(DateTimeOffset.UtcNow.AddMinutes(-5)), Rfc3339(DateTimeOffset.UtcNow.AddDays(400)) })
        {
            var (status, error) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(draft)}/schedule", new { scheduledFor = bad });
            Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
            Assert.Equal("scheduledFor", error["error"]!["details"]!["issues"]![0]!["path"]!.GetValue<string>());
        }

        Assert.Equal("draft", Status((await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(draft)}"))!));
    }

    [Fact]
    public async Task Publish_now_schedules_after_the_workspace_lead_which_leaves_time_to_cancel()
    {
        var (client, account) = await WorkspaceAsync();
        var draft = await CreatePostAsync(client, [account], scheduledFor: null);
        var before = DateTimeOffset.UtcNow;
        var (status, published) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(draft)}/publish");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("scheduled", Status(published));
        var due = DateTimeOffset.Parse(published["scheduledFor"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(due - before, TimeSpan.FromSeconds(29), TimeSpan.FromSeconds(35));

        var (cancelStatus, cancelled) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(draft)}/cancel", new { reason = "mistake" });
        Assert.Equal(HttpStatusCode.OK, cancelStatus);
        Assert.Equal("cancelled", Status(cancelled));

        // A workspace without a lead publishes at once.
        var (settingsStatus, _) = await SendAsync(client, HttpMethod.Patch, "/v1/scheduling-settings", new { publishLeadSeconds = 0 });
        Assert.Equal(HttpStatusCode.OK, settingsStatus);
        var now = await CreatePostAsync(client, [account], scheduledFor: null);
        await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(now)}/publish");
        await Eventually.Until(() => Task.FromResult(factory.Due.Any(d => d.Message.PostId == Id(now))), sent => sent, Patience, "the immediate publish to be dispatched");
    }

    [Fact]
    public async Task Rescheduling_moves_the_pending_message_the_post_goes_out_at_the_new_time_never_the_old()
    {
        var (client, account) = await WorkspaceAsync();
        // The reschedule must land before the old time, even on a loaded machine (the cancel and delete tests' race).
        var oldTime = DateTimeOffset.UtcNow.AddSeconds(4);
        var newTime = DateTimeOffset.UtcNow.AddSeconds(5.5);
        var post = await CreatePostAsync(client, [account], oldTime);
        var (status, moved) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/reschedule", new { scheduledFor = Rfc3339(newTime) });
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(2, moved["scheduleVersion"]!.GetValue<long>());

        var (message, receivedAt) = await Eventually.Until(
            () => Task.FromResult(factory.Due.FirstOrDefault(d => d.Message.PostId == Id(post))),
            d => d.Message is not null, Patience, "the rescheduled TargetDue");
        Assert.Equal(2, message.ScheduleVersion);
        Assert.True(receivedAt >= newTime.AddMilliseconds(-20), $"went out {newTime - receivedAt} before the new time");
        Assert.DoesNotContain(factory.Due, d => d.Message.PostId == Id(post) && d.Message.ScheduleVersion == 1);

        var rescheduled = await Eventually.Until(() => Task.FromResult(factory.Events.FirstOrDefault(e => e.PostId == Id(post) && e.Type == "post.rescheduled")),
            e => e is not null, Patience, "post.rescheduled");
        Assert.Equal(Rfc3339(oldTime)[..19], rescheduled!.Data.GetProperty("previousScheduledFor").GetString()![..19]);
        Assert.Equal(2, rescheduled.ScheduleVersion);
    }

    [Fact]
    public async Task Reschedule_revives_a_cancelled_post_but_not_a_draft_or_a_published_one()
    {
        var (client, account) = await WorkspaceAsync();
        var post = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(1));
        await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/cancel");
        var (revived, body) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/reschedule", new { scheduledFor = Rfc3339(DateTimeOffset.UtcNow.AddHours(2)) });
        Assert.Equal(HttpStatusCode.OK, revived);
        Assert.Equal("scheduled", Status(body));
        Assert.Null(body["cancelledAt"]);
        Assert.Equal("scheduled", body["targets"]![0]!["status"]!.GetValue<string>());

        var draft = await CreatePostAsync(client, [account], scheduledFor: null);
        var (fromDraft, _) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(draft)}/reschedule", new { scheduledFor = Rfc3339(DateTimeOffset.UtcNow.AddHours(2)) });
        Assert.Equal(HttpStatusCode.Conflict, fromDraft);

        var published = await factory.PostThroughClaimAsync(client, account, Posts.TargetStatus.Published);
        var (fromPublished, error) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{published}/reschedule", new { scheduledFor = Rfc3339(DateTimeOffset.UtcNow.AddHours(2)) });
        Assert.Equal(HttpStatusCode.Conflict, fromPublished);
        Assert.Equal("CONFLICT", ErrorCode(error));
    }

    [Fact]
    public async Task Cancel_is_refused_for_drafts_and_finished_posts_and_inside_the_workspace_cutoff()
    {
        var (client, account) = await WorkspaceAsync();
        var draft = await CreatePostAsync(client, [account], scheduledFor: null);
        var (fromDraft, draftError) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(draft)}/cancel");
        Assert.Equal(HttpStatusCode.Conflict, fromDraft);
        Assert.Equal("CONFLICT", ErrorCode(draftError));

        await SendAsync(client, HttpMethod.Patch, "/v1/scheduling-settings", new { cancelCutoffSeconds = 3600 });
        var soon = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddMinutes(10));
        var (insideCutoff, cutoffError) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(soon)}/cancel");
        Assert.Equal(HttpStatusCode.Conflict, insideCutoff);
        Assert.Equal("CANCEL_WINDOW_CLOSED", ErrorCode(cutoffError));
        Assert.Equal("scheduled", Status((await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(soon)}"))!));

        var later = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(2));
        var (outsideCutoff, _) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(later)}/cancel", new { reason = "not needed" });
        Assert.Equal(HttpStatusCode.OK, outsideCutoff);
        var (twice, _) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(later)}/cancel");
        Assert.Equal(HttpStatusCode.Conflict, twice);
    }

    /// <summary>Telnyx's cancel rule as our cutoff (docs/migrating-layers.md#telnyxs-cancel-rule): only while scheduled, and more than a minute before the send time.</summary>
    [Fact]
    public async Task A_cutoff_of_sixty_seconds_is_Telnyxs_rule_on_the_native_Layers_and_Postbreeze_cancels()
    {
        var (client, account) = await WorkspaceAsync();
        await SendAsync(client, HttpMethod.Patch, "/v1/scheduling-settings", new { cancelCutoffSeconds = 60 });

        var withinAMinute = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddSeconds(40));
        var (native, nativeError) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(withinAMinute)}/cancel");
        Assert.Equal((HttpStatusCode.Conflict, "CANCEL_WINDOW_CLOSED"), (native, ErrorCode(nativeError)));
        var (layers, layersError) = await SendAsync(client, HttpMethod.Delete, $"/v1/scheduled-posts/{Id(withinAMinute)}");
        Assert.Equal((HttpStatusCode.Conflict, "CONFLICT"), (layers, ErrorCode(layersError)));
        var (postbreeze, postbreezeError) = await SendAsync(client, HttpMethod.Post, $"/postbreeze/api/v1/posts/{Id(withinAMinute)}/cancel");
        Assert.Equal((HttpStatusCode.Conflict, "CONFLICT"), (postbreeze, postbreezeError["code"]!.GetValue<string>()));
        Assert.Equal("scheduled", Status((await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(withinAMinute)}"))!));

        var inTwoMinutes = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddMinutes(2));
        var (cancelled, post) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(inTwoMinutes)}/cancel");
        Assert.Equal((HttpStatusCode.OK, "cancelled"), (cancelled, Status(post)));

        var draft = await CreatePostAsync(client, [account], scheduledFor: null);
        var (notScheduled, draftError) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(draft)}/cancel");
        Assert.Equal((HttpStatusCode.Conflict, "CONFLICT"), (notScheduled, ErrorCode(draftError)));
    }

    [Fact]
    public async Task Cancel_while_publishing_cancels_the_unclaimed_targets_and_lets_the_upload_in_flight_finish()
    {
        var (client, alice) = await WorkspaceAsync();
        string bob = await ConnectAccountAsync(client, "bob");
        var post = await CreatePostAsync(client, [alice, bob], DateTimeOffset.UtcNow);
        var targets = factory.TargetsClient();
        string aliceTarget = post["targets"]![0]!["id"]!.GetValue<string>();
        var claim = await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = Id(post), TargetId = aliceTarget, ScheduleVersion = 1 });
        Assert.True(claim.Claimed);

        var (status, cancelled) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/cancel");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("publishing", Status(cancelled));
        Assert.Equal("publishing", cancelled["targets"]![0]!["status"]!.GetValue<string>());
        Assert.Equal("cancelled", cancelled["targets"]![1]!["status"]!.GetValue<string>());

        var done = await targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = aliceTarget,
            LeaseToken = claim.Target.LeaseToken,
            Published = new TargetPublished { ExternalPostId = "1" },
        });
        Assert.Equal("published", done.TargetStatus);
        Assert.Equal("cancelled", done.PostStatus); // a post-level cancel took effect (docs/api.md#statuses)

        // One target, already in flight: nothing can be cancelled.
        var single = await CreatePostAsync(client, [alice], DateTimeOffset.UtcNow);
        var singleClaim = await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = Id(single), TargetId = single["targets"]![0]!["id"]!.GetValue<string>(), ScheduleVersion = 1 });
        Assert.True(singleClaim.Claimed);
        var (inFlight, error) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(single)}/cancel");
        Assert.Equal(HttpStatusCode.Conflict, inFlight);
        Assert.Equal("CONFLICT", ErrorCode(error));
    }

    [Fact]
    public async Task Cancelling_one_target_keeps_the_post_going_for_the_others()
    {
        var (client, alice) = await WorkspaceAsync();
        string bob = await ConnectAccountAsync(client, "bob");
        var post = await CreatePostAsync(client, [alice, bob], DateTimeOffset.UtcNow.AddSeconds(1.5));
        string aliceTarget = post["targets"]![0]!["id"]!.GetValue<string>();
        string bobTarget = post["targets"]![1]!["id"]!.GetValue<string>();

        var (status, body) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/targets/{aliceTarget}/cancel", new { reason = "wrong account" });
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("scheduled", Status(body));
        Assert.Equal("cancelled", body["targets"]![0]!["status"]!.GetValue<string>());
        var (again, _) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/targets/{aliceTarget}/cancel");
        Assert.Equal(HttpStatusCode.Conflict, again);
        var (unknown, _) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/targets/tgt_nope/cancel");
        Assert.Equal(HttpStatusCode.NotFound, unknown);

        await Eventually.Until(() => Task.FromResult(factory.Due.Any(d => d.Message.TargetId == bobTarget)), sent => sent, Patience, "bob's TargetDue");
        Assert.DoesNotContain(factory.Due, d => d.Message.TargetId == aliceTarget);

        // Every target cancelled one by one: the post is cancelled.
        var both = await CreatePostAsync(client, [alice, bob], DateTimeOffset.UtcNow.AddHours(1));
        await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(both)}/targets/{both["targets"]![0]!["id"]}/cancel");
        var (_, last) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(both)}/targets/{both["targets"]![1]!["id"]}/cancel");
        Assert.Equal("cancelled", Status(last));
    }

    [Fact]
    public async Task Delete_removes_the_post_group_and_its_pending_message_and_keeps_a_tombstone()
    {
        var (client, account) = await WorkspaceAsync();
        // Deleted well before it is due: a delete at the due time may come after its message went (which the claim
        // then ignores), and one second was not enough on a loaded two-core machine.
        var post = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddSeconds(4));
        var control = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddSeconds(4.5));

        var (status, deleted) = await SendAsync(client, HttpMethod.Delete, $"/v1/posts/{Id(post)}");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(deleted["deleted"]!.GetValue<bool>());
        Assert.Equal(Id(post), deleted["id"]!.GetValue<string>());
        Assert.Equal("scheduled", deleted["targets"]![0]!["status"]!.GetValue<string>());
        Assert.Equal("sandbox", deleted["targets"]![0]!["platform"]!.GetValue<string>());

        var (second, error) = await SendAsync(client, HttpMethod.Delete, $"/v1/posts/{Id(post)}");
        Assert.Equal(HttpStatusCode.NotFound, second);
        Assert.Equal("NOT_FOUND", ErrorCode(error));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/posts/{Id(post)}")).StatusCode);

        await Eventually.Until(() => Task.FromResult(factory.Due.Any(d => d.Message.PostId == Id(control))), sent => sent, Patience, "the control post's TargetDue");
        Assert.DoesNotContain(factory.Due, d => d.Message.PostId == Id(post));

        var audit = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}/events"))!["data"]!.AsArray();
        Assert.Equal(["created", "scheduled", "deleted"], audit.Select(e => e!["action"]!.GetValue<string>()));
        Assert.All(audit, e => Assert.Equal("key_test", e!["actorKeyId"]!.GetValue<string>()));
        await Eventually.Until(() => Task.FromResult(factory.Events.Any(e => e.PostId == Id(post) && e.Type == "post.deleted")), seen => seen, Patience, "post.deleted");

        // Not while publishing or once published.
        string publishedId = await factory.PostThroughClaimAsync(client, account, Posts.TargetStatus.Published);
        var (notPublished, conflict) = await SendAsync(client, HttpMethod.Delete, $"/v1/posts/{publishedId}");
        Assert.Equal(HttpStatusCode.Conflict, notPublished);
        Assert.Equal("CONFLICT", ErrorCode(conflict));

        // Drafts and cancelled posts can go.
        var draft = await CreatePostAsync(client, [account], scheduledFor: null);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, HttpMethod.Delete, $"/v1/posts/{Id(draft)}")).Item1);
    }

    [Fact]
    public async Task The_audit_log_records_who_did_what_with_reason_and_old_and_new_times()
    {
        var (client, account) = await WorkspaceAsync();
        var first = DateTimeOffset.UtcNow.AddHours(1);
        var second = DateTimeOffset.UtcNow.AddHours(2);
        var post = await CreatePostAsync(client, [account], first);
        await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/reschedule", new { scheduledFor = Rfc3339(second) });
        await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/cancel", new { reason = "Campaign moved" });

        var entries = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}/events"))!["data"]!.AsArray();
        var reschedule = entries.Single(e => e!["action"]!.GetValue<string>() == "rescheduled")!;
        Assert.Equal(Rfc3339(first)[..19], reschedule["oldTime"]!.GetValue<string>()[..19]);
        Assert.Equal(Rfc3339(second)[..19], reschedule["newTime"]!.GetValue<string>()[..19]);
        var cancel = entries.Single(e => e!["action"]!.GetValue<string>() == "cancelled")!;
        Assert.Equal("Campaign moved", cancel["reason"]!.GetValue<string>());

        var tooLong = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(1));
        var (status, error) = await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(tooLong)}/cancel", new { reason = new string('x', 1025) });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("reason", error["error"]!["details"]!["issues"]![0]!["path"]!.GetValue<string>());
    }

    [Fact]
    public async Task Every_mutation_emits_its_domain_event_with_the_post_and_its_schedule_version()
    {
        var (client, account) = await WorkspaceAsync();
        var post = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddHours(1));
        await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/reschedule", new { scheduledFor = Rfc3339(DateTimeOffset.UtcNow.AddHours(2)) });
        await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(post)}/cancel");
        await SendAsync(client, HttpMethod.Delete, $"/v1/posts/{Id(post)}");

        var events = await Eventually.Until(
            () => Task.FromResult(factory.Events.Where(e => e.PostId == Id(post)).ToList()),
            list => list.Count >= 4, Patience, "four events");
        Assert.Equal(["post.scheduled", "post.rescheduled", "post.cancelled", "post.deleted"],
            events.OrderBy(e => e.OccurredAt).Select(e => e.Type));
        var cancelled = events.Single(e => e.Type == "post.cancelled");
        Assert.Equal("cancelled", cancelled.Data.GetProperty("status").GetString());
        Assert.Equal(2, cancelled.ScheduleVersion);
        Assert.StartsWith("evt_", cancelled.EventId, StringComparison.Ordinal);
        Assert.Equal(4, events.Select(e => e.EventId).Distinct().Count());
    }
}
