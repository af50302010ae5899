using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Testing.GrpcErrors;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// The typed Posts gRPC API (scheduling.proto): each RPC's answer and its main error, with the error details a caller
/// reads (ErrorInfo reason = the REST code, BadRequest fields by proto path), over the same core as REST.
/// </summary>
public sealed class PostsGrpcTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static readonly string[] Editor = ["posts:read", "posts:write", "accounts:read", "accounts:write"];

    private sealed record Caller(string Workspace, HttpClient Rest, Contracts.Scheduling.V1.Posts.PostsClient Posts, string Account);

    private async Task<Caller> NewWorkspaceAsync()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        var rest = factory.Client(workspace);
        return new Caller(workspace, rest, factory.PostsClient(new InternalIdentity(workspace, "key_grpc", Editor)), await ConnectAccountAsync(rest));
    }

    private static Timestamp In(TimeSpan delay) => Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow + delay);

    private static CreatePostRequest NewPost(params string[] accounts) => NewPost(In(TimeSpan.FromHours(1)), accounts);

    private static CreatePostRequest NewPost(Timestamp? scheduledFor, params string[] accounts)
    {
        var request = new CreatePostRequest { Caption = "Over gRPC", ScheduledFor = scheduledFor, Timezone = "Europe/Paris" };
        request.Targets.AddRange(accounts.Select(a => new TargetSpec { SocialAccountId = a }));
        request.Metadata.Add("campaign", "spring");
        return request;
    }

    [Fact]
    public async Task CreatePost_answers_the_typed_post_that_REST_shows_and_refuses_a_past_time_naming_the_proto_field()
    {
        var caller = await NewWorkspaceAsync();
        var due = In(TimeSpan.FromHours(1));
        var post = await caller.Posts.CreatePostAsync(NewPost(due, caller.Account));

        Assert.StartsWith("post_", post.Id, StringComparison.Ordinal);
        Assert.Equal(PostStatus.Scheduled, post.Status);
        Assert.Equal(due.ToDateTimeOffset().ToUnixTimeMilliseconds(), post.ScheduledFor.ToDateTimeOffset().ToUnixTimeMilliseconds());
        Assert.Equal("spring", post.Metadata["campaign"]);
        Assert.NotEmpty(post.Etag);
        Assert.NotNull(post.CreateTime);
        var target = Assert.Single(post.Targets);
        Assert.Equal((caller.Account, "sandbox", TargetStatus.Scheduled), (target.SocialAccountId, target.Platform, target.Status));
        var rest = (await caller.Rest.GetFromJsonAsync<JsonObject>($"/v1/posts/{post.Id}"))!;
        Assert.Equal("scheduled", Status(rest));
        Assert.Equal(target.Id, rest["targets"]![0]!["id"]!.GetValue<string>());

        var past = await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            async () => await caller.Posts.CreatePostAsync(NewPost(In(TimeSpan.FromHours(-1)), caller.Account)));
        Assert.Equal(["scheduled_for"], Fields(past));

        var noAccount = await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            async () => await caller.Posts.CreatePostAsync(NewPost(due, "")));
        Assert.Equal(["targets[0].social_account_id"], Fields(noAccount));
        Assert.Single((await caller.Posts.ListPostsAsync(new ListPostsRequest())).Posts);
    }

    [Fact]
    public async Task An_idempotency_key_replays_the_first_answer_and_refuses_another_request()
    {
        var caller = await NewWorkspaceAsync();
        var key = new Metadata { { "idempotency-key", $"grpc-{Guid.NewGuid():N}" } };
        var request = NewPost(caller.Account);

        var first = await caller.Posts.CreatePostAsync(request, key);
        var replay = caller.Posts.CreatePostAsync(request, key);
        Assert.Equal(first.Id, (await replay).Id);
        Assert.Equal("true", (await replay.ResponseHeadersAsync).GetValue("idempotent-replayed"));
        Assert.Single((await caller.Posts.ListPostsAsync(new ListPostsRequest())).Posts);

        var other = NewPost(caller.Account);
        other.Caption = "Another";
        await AssertFails(StatusCode.InvalidArgument, "IDEMPOTENCY_KEY_REUSED", async () => await caller.Posts.CreatePostAsync(other, key));

        // A refused first call is replayed as the same error, and still creates nothing.
        var invalidKey = new Metadata { { "idempotency-key", $"grpc-{Guid.NewGuid():N}" } };
        var invalid = NewPost(caller.Account);
        invalid.Caption = "";
        await AssertFails(StatusCode.InvalidArgument, "VALIDATION", async () => await caller.Posts.CreatePostAsync(invalid, invalidKey));
        var replayed = await AssertFails(StatusCode.InvalidArgument, "VALIDATION", async () => await caller.Posts.CreatePostAsync(invalid, invalidKey));
        Assert.Equal(["caption"], Fields(replayed));
        Assert.Single((await caller.Posts.ListPostsAsync(new ListPostsRequest())).Posts);
    }

    [Fact]
    public async Task GetPost_answers_within_the_workspace_only_and_each_method_checks_its_scope()
    {
        var caller = await NewWorkspaceAsync();
        var post = await caller.Posts.CreatePostAsync(NewPost(caller.Account));
        var read = await caller.Posts.GetPostAsync(new GetPostRequest { PostId = post.Id });
        Assert.Equal((post.Id, post.Etag, PostStatus.Scheduled), (read.Id, read.Etag, read.Status));

        var otherWorkspace = factory.PostsClient(new InternalIdentity($"ws_{Guid.NewGuid():N}", "key_x", ["posts:read"]));
        await AssertFails(StatusCode.NotFound, "NOT_FOUND", async () => await otherWorkspace.GetPostAsync(new GetPostRequest { PostId = post.Id }));

        var viewer = factory.PostsClient(new InternalIdentity(caller.Workspace, "key_viewer", ["posts:read"]));
        Assert.Equal(post.Id, (await viewer.GetPostAsync(new GetPostRequest { PostId = post.Id })).Id);
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await viewer.CancelPostAsync(new CancelPostRequest { PostId = post.Id }));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Equal(PostStatus.Scheduled, (await caller.Posts.GetPostAsync(new GetPostRequest { PostId = post.Id })).Status);
    }

    [Fact]
    public async Task ListPosts_filters_by_status_enums_and_pages_with_tokens()
    {
        var caller = await NewWorkspaceAsync();
        var drafts = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            drafts.Add((await caller.Posts.CreatePostAsync(NewPost(scheduledFor: null, caller.Account))).Id);
        }

        string scheduled = (await caller.Posts.CreatePostAsync(NewPost(caller.Account))).Id;

        var request = new ListPostsRequest { PageSize = 2, Statuses = { PostStatus.Draft } };
        var first = await caller.Posts.ListPostsAsync(request);
        Assert.Equal(2, first.Posts.Count);
        Assert.NotEmpty(first.NextPageToken);
        var second = await caller.Posts.ListPostsAsync(new ListPostsRequest { PageSize = 2, PageToken = first.NextPageToken, Statuses = { PostStatus.Draft } });
        Assert.Empty(second.NextPageToken);
        Assert.Equal(drafts.Order(), first.Posts.Concat(second.Posts).Select(p => p.Id).Order());
        Assert.All(first.Posts.Concat(second.Posts), p => Assert.Equal(PostStatus.Draft, p.Status));

        var both = await caller.Posts.ListPostsAsync(new ListPostsRequest { Statuses = { PostStatus.Draft, PostStatus.Scheduled } });
        Assert.Contains(scheduled, both.Posts.Select(p => p.Id));
        Assert.Equal(4, both.Posts.Count);

        var unspecified = await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            async () => await caller.Posts.ListPostsAsync(new ListPostsRequest { Statuses = { PostStatus.Draft, PostStatus.Unspecified } }));
        Assert.Equal(["statuses[1]"], Fields(unspecified));
        var badToken = await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            async () => await caller.Posts.ListPostsAsync(new ListPostsRequest { PageToken = "not-a-token" }));
        Assert.Equal(["page_token"], Fields(badToken));
    }

    [Fact]
    public async Task UpdateDraft_changes_the_fields_its_mask_names_and_refuses_a_scheduled_post()
    {
        var caller = await NewWorkspaceAsync();
        var draft = await caller.Posts.CreatePostAsync(NewPost(scheduledFor: null, caller.Account));
        Assert.Equal(PostStatus.Draft, draft.Status);

        var update = new UpdateDraftRequest
        {
            Post = new PostDraft { Id = draft.Id, Caption = "Edited", Timezone = "Asia/Tokyo" },
            UpdateMask = new FieldMask { Paths = { "caption" } },
            Etag = draft.Etag,
        };
        var edited = await caller.Posts.UpdateDraftAsync(update);
        Assert.Equal(("Edited", "Europe/Paris"), (edited.Caption, edited.Timezone)); // timezone was not in the mask
        Assert.NotEqual(draft.Etag, edited.Etag);

        // The ETag of the first read is stale now.
        await AssertFails(StatusCode.Aborted, "PRECONDITION_FAILED", async () => await caller.Posts.UpdateDraftAsync(update));

        var badMask = await AssertFails(StatusCode.InvalidArgument, "VALIDATION", async () => await caller.Posts.UpdateDraftAsync(new UpdateDraftRequest
        {
            Post = new PostDraft { Id = draft.Id, Caption = "x" },
            UpdateMask = new FieldMask { Paths = { "status" } },
        }));
        Assert.Equal(["update_mask"], Fields(badMask));
        var emptyCaption = await AssertFails(StatusCode.InvalidArgument, "VALIDATION", async () => await caller.Posts.UpdateDraftAsync(new UpdateDraftRequest
        {
            Post = new PostDraft { Id = draft.Id },
            UpdateMask = new FieldMask { Paths = { "caption" } },
        }));
        Assert.Equal(["post.caption"], Fields(emptyCaption));

        var scheduled = await caller.Posts.CreatePostAsync(NewPost(caller.Account));
        await AssertFails(StatusCode.FailedPrecondition, "CONFLICT", async () => await caller.Posts.UpdateDraftAsync(new UpdateDraftRequest
        {
            Post = new PostDraft { Id = scheduled.Id, Caption = "Too late" },
        }));
    }

    [Fact]
    public async Task SchedulePost_schedules_a_draft_and_refuses_a_post_already_scheduled()
    {
        var caller = await NewWorkspaceAsync();
        var draft = await caller.Posts.CreatePostAsync(NewPost(scheduledFor: null, caller.Account));
        var due = In(TimeSpan.FromHours(3));
        var scheduled = await caller.Posts.SchedulePostAsync(new SchedulePostRequest { PostId = draft.Id, ScheduledFor = due });
        Assert.Equal(PostStatus.Scheduled, scheduled.Status);
        Assert.Equal(TargetStatus.Scheduled, Assert.Single(scheduled.Targets).Status);

        await AssertFails(StatusCode.FailedPrecondition, "CONFLICT",
            async () => await caller.Posts.SchedulePostAsync(new SchedulePostRequest { PostId = draft.Id, ScheduledFor = due }));
        var missing = await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            async () => await caller.Posts.SchedulePostAsync(new SchedulePostRequest { PostId = draft.Id }));
        Assert.Equal(["scheduled_for"], Fields(missing));
    }

    [Fact]
    public async Task PublishPost_schedules_at_the_publish_lead_and_refuses_a_cancelled_post()
    {
        var caller = await NewWorkspaceAsync();
        var draft = await caller.Posts.CreatePostAsync(NewPost(scheduledFor: null, caller.Account));
        var before = DateTimeOffset.UtcNow;
        var published = await caller.Posts.PublishPostAsync(new PublishPostRequest { PostId = draft.Id });
        var after = DateTimeOffset.UtcNow;
        Assert.Equal(PostStatus.Scheduled, published.Status);
        var lead = TimeSpan.FromSeconds(30); // the default publish lead
        Assert.InRange(published.ScheduledFor.ToDateTimeOffset(), before + lead, after + lead);

        await caller.Posts.CancelPostAsync(new CancelPostRequest { PostId = draft.Id });
        await AssertFails(StatusCode.FailedPrecondition, "CONFLICT", async () => await caller.Posts.PublishPostAsync(new PublishPostRequest { PostId = draft.Id }));
    }

    [Fact]
    public async Task ReschedulePost_moves_the_post_and_a_stale_etag_is_aborted()
    {
        var caller = await NewWorkspaceAsync();
        var post = await caller.Posts.CreatePostAsync(NewPost(caller.Account));
        var later = In(TimeSpan.FromHours(5));
        var moved = await caller.Posts.ReschedulePostAsync(new ReschedulePostRequest { PostId = post.Id, ScheduledFor = later, Etag = post.Etag });
        Assert.Equal(2, moved.ScheduleVersion);
        Assert.Equal(later.ToDateTimeOffset().ToUnixTimeMilliseconds(), moved.ScheduledFor.ToDateTimeOffset().ToUnixTimeMilliseconds());

        await AssertFails(StatusCode.Aborted, "PRECONDITION_FAILED", async () => await caller.Posts.ReschedulePostAsync(
            new ReschedulePostRequest { PostId = post.Id, ScheduledFor = In(TimeSpan.FromHours(6)), Etag = post.Etag }));
        Assert.Equal(2, (await caller.Posts.GetPostAsync(new GetPostRequest { PostId = post.Id })).ScheduleVersion);
    }

    [Fact]
    public async Task CancelPost_cancels_every_target_and_a_second_cancel_is_a_failed_precondition()
    {
        var caller = await NewWorkspaceAsync();
        var post = await caller.Posts.CreatePostAsync(NewPost(caller.Account));
        var cancelled = await caller.Posts.CancelPostAsync(new CancelPostRequest { PostId = post.Id, Reason = "wrong link", Etag = post.Etag });
        Assert.Equal(PostStatus.Cancelled, cancelled.Status);
        Assert.Equal("wrong link", cancelled.CancelReason);
        Assert.NotNull(cancelled.CancelTime);
        Assert.Equal(TargetStatus.Cancelled, Assert.Single(cancelled.Targets).Status);

        await AssertFails(StatusCode.FailedPrecondition, "CONFLICT", async () => await caller.Posts.CancelPostAsync(new CancelPostRequest { PostId = post.Id }));
    }

    [Fact]
    public async Task CancelTarget_cancels_one_target_and_an_unknown_target_is_not_found()
    {
        var caller = await NewWorkspaceAsync();
        string second = await ConnectAccountAsync(caller.Rest, "bob");
        var post = await caller.Posts.CreatePostAsync(NewPost(caller.Account, second));
        string targetId = post.Targets.Single(t => t.SocialAccountId == second).Id;

        var after = await caller.Posts.CancelTargetAsync(new CancelTargetRequest { PostId = post.Id, TargetId = targetId, Reason = "not for bob" });
        Assert.Equal(PostStatus.Scheduled, after.Status);
        Assert.Equal(TargetStatus.Cancelled, after.Targets.Single(t => t.Id == targetId).Status);
        Assert.Equal(TargetStatus.Scheduled, after.Targets.Single(t => t.Id != targetId).Status);

        await AssertFails(StatusCode.NotFound, "NOT_FOUND",
            async () => await caller.Posts.CancelTargetAsync(new CancelTargetRequest { PostId = post.Id, TargetId = "tgt_unknown" }));
    }

    [Fact]
    public async Task RetryPost_requeues_a_failed_target_and_refuses_a_post_that_did_not_fail()
    {
        var caller = await NewWorkspaceAsync();
        var post = await caller.Posts.CreatePostAsync(NewPost(In(TimeSpan.Zero), caller.Account));
        string targetId = Assert.Single(post.Targets).Id;
        var targets = factory.TargetsClient();
        var claim = await Eventually.Until(async () => factory.Due.Select(d => d.Message).FirstOrDefault(m => m.TargetId == targetId) is { } due
                ? await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = post.Id, TargetId = targetId, ScheduleVersion = due.ScheduleVersion })
                : new ClaimTargetResponse(),
            c => c.Claimed, TimeSpan.FromSeconds(20), "the target to be due and claimed");
        await targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = targetId,
            LeaseToken = claim.Target.LeaseToken,
            Failed = new TargetFailed { ErrorCode = "PLATFORM_REFUSED", ErrorMessage = "refused", Retryable = false },
        });
        var failed = await caller.Posts.GetPostAsync(new GetPostRequest { PostId = post.Id });
        Assert.Equal(PostStatus.Failed, failed.Status);
        Assert.Equal("PLATFORM_REFUSED", Assert.Single(failed.Targets).ErrorCode);

        var retried = await caller.Posts.RetryPostAsync(new RetryPostRequest { PostId = post.Id });
        Assert.Equal(PostStatus.Scheduled, retried.Status);
        Assert.Equal(TargetStatus.Scheduled, Assert.Single(retried.Targets).Status);

        await AssertFails(StatusCode.FailedPrecondition, "CONFLICT", async () => await caller.Posts.RetryPostAsync(new RetryPostRequest { PostId = post.Id }));
    }

    [Fact]
    public async Task DeletePost_answers_what_was_removed_and_a_second_delete_is_not_found()
    {
        var caller = await NewWorkspaceAsync();
        var post = await caller.Posts.CreatePostAsync(NewPost(caller.Account));
        var deleted = await caller.Posts.DeletePostAsync(new DeletePostRequest { PostId = post.Id, Etag = post.Etag });
        Assert.Equal(post.Id, deleted.PostId);
        var target = Assert.Single(deleted.Targets);
        Assert.Equal((post.Targets[0].Id, "sandbox", TargetStatus.Scheduled), (target.Id, target.Platform, target.Status));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await caller.Rest.GetAsync($"/v1/posts/{post.Id}")).StatusCode);

        await AssertFails(StatusCode.NotFound, "NOT_FOUND", async () => await caller.Posts.DeletePostAsync(new DeletePostRequest { PostId = post.Id }));
    }

    [Fact]
    public async Task ListPostEvents_answers_the_audit_log_with_typed_times_and_an_unknown_post_is_not_found()
    {
        var caller = await NewWorkspaceAsync();
        var post = await caller.Posts.CreatePostAsync(NewPost(caller.Account));
        var later = In(TimeSpan.FromHours(2));
        await caller.Posts.ReschedulePostAsync(new ReschedulePostRequest { PostId = post.Id, ScheduledFor = later });
        await caller.Posts.DeletePostAsync(new DeletePostRequest { PostId = post.Id });

        var events = (await caller.Posts.ListPostEventsAsync(new ListPostEventsRequest { PostId = post.Id })).Events;
        Assert.Equal(["created", "scheduled", "rescheduled", "deleted"], events.Select(e => e.Action));
        var rescheduled = events.Single(e => e.Action == "rescheduled");
        Assert.Equal(post.ScheduledFor.ToDateTimeOffset().ToUnixTimeMilliseconds(), rescheduled.OldTime.ToDateTimeOffset().ToUnixTimeMilliseconds());
        Assert.Equal(later.ToDateTimeOffset().ToUnixTimeMilliseconds(), rescheduled.NewTime.ToDateTimeOffset().ToUnixTimeMilliseconds());
        Assert.Equal("key_grpc", rescheduled.ActorKeyId);

        await AssertFails(StatusCode.NotFound, "NOT_FOUND", async () => await caller.Posts.ListPostEventsAsync(new ListPostEventsRequest { PostId = "post_unknown" }));
    }

    [Fact]
    public async Task ListPostEvents_pages_the_audit_log_oldest_first_and_refuses_a_page_token_it_did_not_give()
    {
        var caller = await NewWorkspaceAsync();
        var post = await caller.Posts.CreatePostAsync(NewPost(caller.Account));
        await caller.Posts.ReschedulePostAsync(new ReschedulePostRequest { PostId = post.Id, ScheduledFor = In(TimeSpan.FromHours(2)) });
        await caller.Posts.CancelPostAsync(new CancelPostRequest { PostId = post.Id, Reason = "changed my mind" });

        var actions = new List<string>();
        var pages = 0;
        string token = "";
        do
        {
            var page = await caller.Posts.ListPostEventsAsync(new ListPostEventsRequest { PostId = post.Id, PageSize = 2, PageToken = token });
            Assert.InRange(page.Events.Count, 1, 2);
            actions.AddRange(page.Events.Select(e => e.Action));
            token = page.NextPageToken;
            pages++;
        }
        while (token.Length > 0);

        Assert.Equal(["created", "scheduled", "rescheduled", "cancelled"], actions);
        Assert.Equal(2, pages);

        var forged = await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            async () => await caller.Posts.ListPostEventsAsync(new ListPostEventsRequest { PostId = post.Id, PageToken = "cDE6bm90LWFuLWlk" }));
        Assert.Equal(["page_token"], Fields(forged));
    }
}
