using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Testing.GrpcErrors;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;
using V1 = ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// The approval step of docs/api.md#approval: with <c>approvalRequired</c>, an editor's scheduling waits in
/// needs_approval (never dispatched) until an owner or admin approves it; a decline sends it back for editing.
/// </summary>
public sealed class ApprovalTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private static readonly string[] EditorScopes = ["posts:read", "posts:write", "accounts:read", "settings:read"];
    private static readonly string[] OwnerScopes = ["posts:read", "posts:write", "posts:approve", "accounts:read", "accounts:write", "settings:read", "settings:write"];

    private sealed record Team(string Workspace, HttpClient Owner, HttpClient Editor, string Account);

    private static string Id(JsonObject node) => node["id"]!.GetValue<string>();

    private static DateTimeOffset In(double seconds) => DateTimeOffset.UtcNow.AddSeconds(seconds);

    /// <summary>A workspace whose owner turned approval on, with an editor and one account.</summary>
    private async Task<Team> TeamAsync(bool approvalRequired = true)
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        var owner = factory.Client(workspace, "key_owner", OwnerScopes);
        var editor = factory.Client(workspace, "key_editor", EditorScopes);
        string account = await ConnectAccountAsync(owner);
        if (approvalRequired)
        {
            var (status, settings) = await SendAsync(owner, HttpMethod.Patch, "/v1/scheduling-settings", new { approvalRequired = true });
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.True(settings["approvalRequired"]!.GetValue<bool>());
        }

        return new Team(workspace, owner, editor, account);
    }

    private static async Task<JsonObject> GetAsync(HttpClient client, string postId)
        => (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{postId}"))!;

    private static async Task<string[]> AuditAsync(HttpClient client, string postId)
        => [.. (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{postId}/events"))!["data"]!.AsArray().Select(e => e!["action"]!.GetValue<string>())];

    private Task<Contracts.Messages.PostEvent> EventAsync(string postId, string type)
        => Eventually.Until(() => Task.FromResult(factory.Events.FirstOrDefault(e => e.PostId == postId && e.Type == type)), e => e is not null, Patience, type)!;

    [Fact]
    public async Task The_setting_is_off_by_default_owners_turn_it_on_and_keys_without_settings_write_cannot()
    {
        var team = await TeamAsync(approvalRequired: false);
        var settings = (await team.Editor.GetFromJsonAsync<JsonObject>("/v1/scheduling-settings"))!;
        Assert.False(settings["approvalRequired"]!.GetValue<bool>());

        var (forbidden, error) = await SendAsync(team.Editor, HttpMethod.Patch, "/v1/scheduling-settings", new { approvalRequired = true });
        Assert.Equal(HttpStatusCode.Forbidden, forbidden);
        Assert.Equal("FORBIDDEN_SCOPE", ErrorCode(error));
        Assert.False((await team.Owner.GetFromJsonAsync<JsonObject>("/v1/scheduling-settings"))!["approvalRequired"]!.GetValue<bool>());

        // Changing one setting leaves the others as they were.
        await SendAsync(team.Owner, HttpMethod.Patch, "/v1/scheduling-settings", new { publishLeadSeconds = 5 });
        var (ok, changed) = await SendAsync(team.Owner, HttpMethod.Patch, "/v1/scheduling-settings", new { approvalRequired = true });
        Assert.Equal(HttpStatusCode.OK, ok);
        Assert.True(changed["approvalRequired"]!.GetValue<bool>());
        Assert.Equal(5, changed["publishLeadSeconds"]!.GetValue<int>());

        var (bad, badError) = await SendAsync(team.Owner, HttpMethod.Patch, "/v1/scheduling-settings", new { approvalRequired = "yes" });
        Assert.True(bad is HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity, $"{bad}");
        Assert.NotNull(badError["error"]);
        Assert.True((await team.Owner.GetFromJsonAsync<JsonObject>("/v1/scheduling-settings"))!["approvalRequired"]!.GetValue<bool>());
    }

    [Fact]
    public async Task An_editors_post_waits_for_approval_and_is_never_dispatched_until_an_owner_approves_it()
    {
        var team = await TeamAsync();
        var held = await CreatePostAsync(team.Editor, [team.Account], In(3));
        Assert.Equal("needs_approval", Status(held));
        Assert.Equal("draft", held["targets"]![0]!["status"]!.GetValue<string>());
        Assert.NotNull(held["scheduledFor"]);
        var requested = await EventAsync(Id(held), "post.approval_requested");
        Assert.Equal("needs_approval", requested.Data.GetProperty("status").GetString());

        // The owner's own post, due just after the editor's, is not held: once it went out, the editor's would have too.
        var control = await CreatePostAsync(team.Owner, [team.Account], In(3.5));
        Assert.Equal("scheduled", Status(control));
        await Eventually.Until(() => Task.FromResult(factory.Due.Any(d => d.Message.PostId == Id(control))), sent => sent, Patience, "the owner's post's TargetDue");
        Assert.DoesNotContain(factory.Due, d => d.Message.PostId == Id(held));
        Assert.Equal("needs_approval", Status(await GetAsync(team.Owner, Id(held))));

        // Its time has passed meanwhile: approving it would publish late, so the approver must choose a time.
        var (late, lateError) = await SendAsync(team.Owner, HttpMethod.Post, $"/v1/posts/{Id(held)}/approve");
        Assert.Equal(HttpStatusCode.Conflict, late);
        Assert.Equal("SCHEDULE_IN_PAST", ErrorCode(lateError));
        Assert.Equal("needs_approval", Status(await GetAsync(team.Owner, Id(held))));

        // The editor moves it: it still waits.
        var (moved, movedPost) = await SendAsync(team.Editor, HttpMethod.Post, $"/v1/posts/{Id(held)}/reschedule", new { scheduledFor = Rfc3339(In(2)) });
        Assert.Equal(HttpStatusCode.OK, moved);
        Assert.Equal("needs_approval", Status(movedPost));

        var (approved, approvedPost) = await SendAsync(team.Owner, HttpMethod.Post, $"/v1/posts/{Id(held)}/approve");
        Assert.Equal(HttpStatusCode.OK, approved);
        Assert.Equal("scheduled", Status(approvedPost));
        Assert.Equal("scheduled", approvedPost["targets"]![0]!["status"]!.GetValue<string>());
        Assert.Equal(movedPost["scheduledFor"]!.GetValue<string>(), approvedPost["scheduledFor"]!.GetValue<string>());
        var (message, receivedAt) = await Eventually.Until(
            () => Task.FromResult(factory.Due.FirstOrDefault(d => d.Message.PostId == Id(held))), d => d.Message is not null, Patience, "the approved post's TargetDue");
        Assert.Equal(approvedPost["scheduleVersion"]!.GetValue<long>(), message.ScheduleVersion);
        Assert.True(receivedAt >= DateTimeOffset.Parse(approvedPost["scheduledFor"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture).AddMilliseconds(-20));
        Assert.Equal("scheduled", (await EventAsync(Id(held), "post.approved")).Data.GetProperty("status").GetString());

        Assert.Equal(["created", "approval_requested", "approval_requested", "approved"], await AuditAsync(team.Owner, Id(held)));
        var audit = (await team.Owner.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(held)}/events"))!["data"]!.AsArray();
        Assert.Equal("key_editor", audit[1]!["actorKeyId"]!.GetValue<string>());
        Assert.Equal("key_owner", audit[3]!["actorKeyId"]!.GetValue<string>());

        // A second approve finds nothing to approve.
        var (again, againError) = await SendAsync(team.Owner, HttpMethod.Post, $"/v1/posts/{Id(held)}/approve");
        Assert.Equal(HttpStatusCode.Conflict, again);
        Assert.Equal("CONFLICT", ErrorCode(againError));
    }

    [Fact]
    public async Task Every_way_an_editor_schedules_waits_for_approval_while_owners_and_workspaces_without_approval_schedule_at_once()
    {
        var team = await TeamAsync();
        var draft = await CreatePostAsync(team.Editor, [team.Account], scheduledFor: null);
        Assert.Equal("draft", Status(draft));
        var (_, scheduled) = await SendAsync(team.Editor, HttpMethod.Post, $"/v1/posts/{Id(draft)}/schedule", new { scheduledFor = Rfc3339(In(3600)) });
        Assert.Equal("needs_approval", Status(scheduled));

        var now = await CreatePostAsync(team.Editor, [team.Account], scheduledFor: null);
        var (_, publishing) = await SendAsync(team.Editor, HttpMethod.Post, $"/v1/posts/{Id(now)}/publish");
        Assert.Equal("needs_approval", Status(publishing));

        // An approved post an editor moves goes back for approval, and its pending message is taken back.
        var ownersPost = await CreatePostAsync(team.Owner, [team.Account], In(3));
        Assert.Equal("scheduled", Status(ownersPost));
        var (_, moved) = await SendAsync(team.Editor, HttpMethod.Post, $"/v1/posts/{Id(ownersPost)}/reschedule", new { scheduledFor = Rfc3339(In(3600)) });
        Assert.Equal("needs_approval", Status(moved));
        Assert.Equal("draft", moved["targets"]![0]!["status"]!.GetValue<string>());

        var (_, forced) = await SendAsync(team.Editor, HttpMethod.Post, $"/v1/posts/{Id(ownersPost)}/publish");
        Assert.Equal("needs_approval", Status(forced));

        // The owner schedules at once, even a post that waits: their publish now is their approval.
        var (_, ownerPublished) = await SendAsync(team.Owner, HttpMethod.Post, $"/v1/posts/{Id(now)}/publish");
        Assert.Equal("scheduled", Status(ownerPublished));

        var control = await CreatePostAsync(team.Owner, [team.Account], In(4));
        await Eventually.Until(() => Task.FromResult(factory.Due.Any(d => d.Message.PostId == Id(control))), sent => sent, Patience, "the control post's TargetDue");
        Assert.DoesNotContain(factory.Due, d => d.Message.PostId == Id(ownersPost));

        var filtered = (await team.Owner.GetFromJsonAsync<JsonObject>("/v1/posts?status=needs_approval"))!["data"]!.AsArray();
        Assert.Equal(new[] { Id(ownersPost), Id(draft) }.Order(), filtered.Select(p => Id(p!.AsObject())).Order());

        // Without the setting, an editor's post is scheduled at once.
        var open = await TeamAsync(approvalRequired: false);
        Assert.Equal("scheduled", Status(await CreatePostAsync(open.Editor, [open.Account], In(3600))));
    }

    [Fact]
    public async Task A_declined_post_says_why_can_be_edited_and_scheduling_it_again_asks_for_approval_again()
    {
        var team = await TeamAsync();
        var held = await CreatePostAsync(team.Editor, [team.Account], In(3600), "Frist draft");

        foreach (object? body in new object?[] { new { }, new { reason = "  " }, new { reason = new string('x', 1025) } })
        {
            var (invalid, invalidError) = await SendAsync(team.Owner, HttpMethod.Post, $"/v1/posts/{Id(held)}/decline", body);
            Assert.Equal(HttpStatusCode.UnprocessableEntity, invalid);
            Assert.Equal("reason", invalidError["error"]!["details"]!["issues"]![0]!["path"]!.GetValue<string>());
        }

        Assert.Equal("needs_approval", Status(await GetAsync(team.Owner, Id(held))));

        // An edit while it waits would change what the approver is looking at.
        var (frozen, _) = await SendAsync(team.Editor, HttpMethod.Patch, $"/v1/posts/{Id(held)}", new { caption = "Sneaky" });
        Assert.Equal(HttpStatusCode.Conflict, frozen);

        var (declined, declinedPost) = await SendAsync(team.Owner, HttpMethod.Post, $"/v1/posts/{Id(held)}/decline", new { reason = "Typo in the first word" });
        Assert.Equal(HttpStatusCode.OK, declined);
        Assert.Equal("declined", Status(declinedPost));
        var declinedEvent = await EventAsync(Id(held), "post.declined");
        Assert.Equal("Typo in the first word", declinedEvent.Data.GetProperty("reason").GetString());
        var audit = (await team.Editor.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(held)}/events"))!["data"]!.AsArray();
        Assert.Equal("declined", audit[^1]!["action"]!.GetValue<string>());
        Assert.Equal("Typo in the first word", audit[^1]!["reason"]!.GetValue<string>());

        // Declined: neither approved, declined again, nor cancelled.
        foreach (string action in new[] { "approve", "cancel" })
        {
            var (conflict, error) = await SendAsync(team.Owner, HttpMethod.Post, $"/v1/posts/{Id(held)}/{action}");
            Assert.Equal(HttpStatusCode.Conflict, conflict);
            Assert.Equal("CONFLICT", ErrorCode(error));
        }

        var (declinedAgain, _) = await SendAsync(team.Owner, HttpMethod.Post, $"/v1/posts/{Id(held)}/decline", new { reason = "again" });
        Assert.Equal(HttpStatusCode.Conflict, declinedAgain);

        var (edited, editedPost) = await SendAsync(team.Editor, HttpMethod.Patch, $"/v1/posts/{Id(held)}", new { caption = "First draft" });
        Assert.Equal(HttpStatusCode.OK, edited);
        Assert.Equal(("declined", "First draft"), (Status(editedPost), editedPost["caption"]!.GetValue<string>()));

        var (resubmitted, resubmittedPost) = await SendAsync(team.Editor, HttpMethod.Post, $"/v1/posts/{Id(held)}/schedule", new { scheduledFor = Rfc3339(In(7200)) });
        Assert.Equal(HttpStatusCode.OK, resubmitted);
        Assert.Equal("needs_approval", Status(resubmittedPost));
        await Eventually.Until(() => Task.FromResult(factory.Events.Count(e => e.PostId == Id(held) && e.Type == "post.approval_requested")),
            n => n == 2, Patience, "the second post.approval_requested");

        var (approved, approvedPost) = await SendAsync(team.Owner, HttpMethod.Post, $"/v1/posts/{Id(held)}/approve");
        Assert.Equal(HttpStatusCode.OK, approved);
        Assert.Equal("scheduled", Status(approvedPost));
        Assert.Equal(["created", "approval_requested", "declined", "updated", "approval_requested", "approved"], await AuditAsync(team.Owner, Id(held)));
    }

    [Fact]
    public async Task Editors_can_neither_approve_nor_decline_and_another_workspaces_post_is_not_found()
    {
        var team = await TeamAsync();
        var held = await CreatePostAsync(team.Editor, [team.Account], In(3600));
        foreach (var (action, body) in new (string, object?)[] { ("approve", null), ("decline", new { reason = "mine" }) })
        {
            var (forbidden, error) = await SendAsync(team.Editor, HttpMethod.Post, $"/v1/posts/{Id(held)}/{action}", body);
            Assert.Equal(HttpStatusCode.Forbidden, forbidden);
            Assert.Equal("FORBIDDEN_SCOPE", ErrorCode(error));
            Assert.Contains("posts:approve", error["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        }

        var stranger = factory.Client($"ws_{Guid.NewGuid():N}", "key_stranger", OwnerScopes);
        var (missing, missingError) = await SendAsync(stranger, HttpMethod.Post, $"/v1/posts/{Id(held)}/approve");
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal("NOT_FOUND", ErrorCode(missingError));

        // A stale ETag is refused as for every change.
        var (stale, staleError) = await SendAsync(team.Owner, HttpMethod.Post, $"/v1/posts/{Id(held)}/approve", ifMatch: "\"99\"");
        Assert.Equal(HttpStatusCode.PreconditionFailed, stale);
        Assert.Equal("PRECONDITION_FAILED", ErrorCode(staleError));

        var after = await GetAsync(team.Owner, Id(held));
        Assert.Equal("needs_approval", Status(after));
        Assert.Equal(["created", "approval_requested"], await AuditAsync(team.Owner, Id(held)));
    }

    [Fact]
    public async Task Over_gRPC_approve_and_decline_answer_the_typed_post_with_the_new_statuses()
    {
        var team = await TeamAsync();
        var editor = factory.PostsClient(new InternalIdentity(team.Workspace, "key_editor", EditorScopes));
        var owner = factory.PostsClient(new InternalIdentity(team.Workspace, "key_owner", OwnerScopes));
        var request = new V1.CreatePostRequest { Caption = "Over gRPC", ScheduledFor = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(In(3600)) };
        request.Targets.Add(new V1.TargetSpec { SocialAccountId = team.Account });

        var first = await editor.CreatePostAsync(request);
        Assert.Equal(V1.PostStatus.NeedsApproval, first.Status);
        await AssertFails(StatusCode.PermissionDenied, "FORBIDDEN_SCOPE", async () => await editor.ApprovePostAsync(new V1.ApprovePostRequest { PostId = first.Id }));
        var invalid = await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            async () => await owner.DeclinePostAsync(new V1.DeclinePostRequest { PostId = first.Id }));
        Assert.Equal(["reason"], Fields(invalid));

        var approved = await owner.ApprovePostAsync(new V1.ApprovePostRequest { PostId = first.Id, Etag = first.Etag });
        Assert.Equal(V1.PostStatus.Scheduled, approved.Status);
        Assert.Equal(V1.TargetStatus.Scheduled, approved.Targets[0].Status);

        var second = await editor.CreatePostAsync(request);
        var declined = await owner.DeclinePostAsync(new V1.DeclinePostRequest { PostId = second.Id, Reason = "Not this week" });
        Assert.Equal(V1.PostStatus.Declined, declined.Status);
        await AssertFails(StatusCode.FailedPrecondition, "CONFLICT", async () => await owner.ApprovePostAsync(new V1.ApprovePostRequest { PostId = second.Id }));

        var waiting = await owner.ListPostsAsync(new V1.ListPostsRequest { Statuses = { V1.PostStatus.Declined } });
        Assert.Equal([second.Id], waiting.Posts.Select(p => p.Id));
    }
}
