using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.ServiceDefaults.Identity;
using Xunit;
using static ScheduledPosts.Testing.GrpcErrors;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>The Settings gRPC API (settings.proto): the workspace's publish lead and cancel cutoff, as REST reads and changes them.</summary>
public sealed class SettingsGrpcTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static readonly string[] Owner = ["posts:read", "posts:write", "settings:read", "settings:write"];

    private Settings.SettingsClient Client(string workspace, params string[] scopes)
        => new(factory.Channel(new InternalIdentity(workspace, "key_grpc", scopes.Length > 0 ? scopes : Owner)));

    private async Task<(int Lead, int Cutoff)> RestSettingsAsync(string workspace)
    {
        var body = (await factory.Client(workspace).GetFromJsonAsync<JsonObject>("/v1/scheduling-settings"))!;
        return (body["publishLeadSeconds"]!.GetValue<int>(), body["cancelCutoffSeconds"]!.GetValue<int>());
    }

    [Fact]
    public async Task GetSchedulingSettings_answers_what_REST_shows_and_needs_settings_read()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        var settings = await Client(workspace).GetSchedulingSettingsAsync(new GetSchedulingSettingsRequest());
        Assert.Equal(await RestSettingsAsync(workspace), (settings.PublishLeadSeconds, settings.CancelCutoffSeconds));
        Assert.Equal(0, settings.CancelCutoffSeconds);

        var postsOnly = Client(workspace, "posts:read", "posts:write");
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await postsOnly.GetSchedulingSettingsAsync(new GetSchedulingSettingsRequest()));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
    }

    [Fact]
    public async Task UpdateSchedulingSettings_changes_the_masked_fields_keeps_the_rest_and_REST_and_scheduling_see_it()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        var client = Client(workspace);

        var cutoff = await client.UpdateSchedulingSettingsAsync(new UpdateSchedulingSettingsRequest
        {
            Settings = new SchedulingSettings { CancelCutoffSeconds = 7200, PublishLeadSeconds = 999 },
            UpdateMask = new FieldMask { Paths = { "cancel_cutoff_seconds" } },
        });
        int defaultLead = cutoff.PublishLeadSeconds;
        Assert.NotEqual(999, defaultLead);
        Assert.Equal(7200, cutoff.CancelCutoffSeconds);

        // A zero is set through the mask; without a mask, only the fields set to something else change.
        Assert.Equal(0, (await client.UpdateSchedulingSettingsAsync(new UpdateSchedulingSettingsRequest
        {
            Settings = new SchedulingSettings(),
            UpdateMask = new FieldMask { Paths = { "publish_lead_seconds" } },
        })).PublishLeadSeconds);
        var unmasked = await client.UpdateSchedulingSettingsAsync(new UpdateSchedulingSettingsRequest { Settings = new SchedulingSettings { PublishLeadSeconds = 45 } });
        Assert.Equal((45, 7200), (unmasked.PublishLeadSeconds, unmasked.CancelCutoffSeconds));
        Assert.Equal((45, 7200), await RestSettingsAsync(workspace));

        // The cutoff applies to the workspace's posts: one due within two hours can no longer be cancelled.
        var rest = factory.Client(workspace);
        string account = await SchedulingFactory.ConnectAccountAsync(rest);
        var post = await SchedulingFactory.CreatePostAsync(rest, [account], DateTimeOffset.UtcNow.AddHours(1));
        var posts = factory.PostsClient(new InternalIdentity(workspace, "key_grpc", Owner));
        await AssertFails(StatusCode.FailedPrecondition, "CANCEL_WINDOW_CLOSED",
            async () => await posts.CancelPostAsync(new CancelPostRequest { PostId = post["id"]!.GetValue<string>() }));
    }

    [Fact]
    public async Task UpdateSchedulingSettings_refuses_a_value_out_of_range_or_an_unknown_mask_path_and_changes_nothing()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        var client = Client(workspace);
        var before = await RestSettingsAsync(workspace);

        var tooLong = await AssertFails(StatusCode.InvalidArgument, "VALIDATION", async () => await client.UpdateSchedulingSettingsAsync(
            new UpdateSchedulingSettingsRequest { Settings = new SchedulingSettings { PublishLeadSeconds = 3601, CancelCutoffSeconds = 60 } }));
        Assert.Equal(["publish_lead_seconds"], Fields(tooLong));

        var unknown = await AssertFails(StatusCode.InvalidArgument, "VALIDATION", async () => await client.UpdateSchedulingSettingsAsync(new UpdateSchedulingSettingsRequest
        {
            Settings = new SchedulingSettings { CancelCutoffSeconds = 60 },
            UpdateMask = new FieldMask { Paths = { "cancel_cutoff_seconds", "timezone" } },
        }));
        Assert.Equal(["update_mask"], Fields(unknown));
        Assert.Equal(before, await RestSettingsAsync(workspace));

        // An editor's key reads the settings but cannot change them (settings:write is the owner's and admins').
        var editor = Client(workspace, "posts:read", "posts:write", "settings:read");
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await editor.UpdateSchedulingSettingsAsync(
            new UpdateSchedulingSettingsRequest { Settings = new SchedulingSettings { CancelCutoffSeconds = 60 } }));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Equal(before, await RestSettingsAsync(workspace));
    }
}
