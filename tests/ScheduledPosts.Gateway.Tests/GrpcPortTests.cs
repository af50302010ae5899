using Google.Rpc;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>A gateway whose gRPC clusters point at a <see cref="GrpcUpstream"/>, and whose REST clusters (their /readyz) at an echo.</summary>
public sealed class GrpcPortFixture : IAsyncLifetime, IAsyncDisposable
{
    private readonly TestResources _resources = new();

    public string ConnectionString { get; private set; } = "";
    public GrpcUpstream Upstream { get; private set; } = null!;
    public GatewayFactory Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        ConnectionString = await _resources.CreateDatabaseAsync();
        Upstream = _resources.Add(await GrpcUpstream.StartAsync());
        var echo = _resources.Add(await EchoUpstream.StartAsync());
        Gateway = _resources.Add(GatewayFactory.Create(ConnectionString, echo.Address, echo.Address, extra: new Dictionary<string, string?>
        {
            ["ReverseProxy:Clusters:scheduling-grpc:Destinations:default:Address"] = Upstream.Address.ToString(),
            ["ReverseProxy:Clusters:webhooks-grpc:Destinations:default:Address"] = Upstream.Address.ToString(),
        }));
        _ = Gateway.Server;
    }

    public GrpcChannel Channel() => GrpcChannel.ForAddress(Gateway.Server.BaseAddress, new GrpcChannelOptions { HttpHandler = Gateway.Server.CreateHandler() });

    public Task DisposeAsync() => _resources.DisposeAsync().AsTask();

    ValueTask IAsyncDisposable.DisposeAsync() => _resources.DisposeAsync();
}

/// <summary>The gateway's gRPC port: API keys and scopes as for REST, typed errors, Targets never routed, reflection and health without a key.</summary>
public sealed class GrpcPortTests(GrpcPortFixture fixture) : IClassFixture<GrpcPortFixture>
{
    private static Metadata Bearer(string key) => new() { { "authorization", $"Bearer {key}" } };

    private static ErrorInfo? Info(RpcException error) => error.GetRpcStatus()?.GetDetail<ErrorInfo>();

    [Fact]
    public async Task A_call_with_a_key_reaches_the_service_as_the_keys_workspace_with_a_request_id()
    {
        var key = await TestKeys.InsertAsync(fixture.ConnectionString, "viewer");
        var posts = new Posts.PostsClient(fixture.Channel());
        string postId = $"post_{Guid.NewGuid():N}";
        string requestId = $"req-{Guid.NewGuid():N}";
        var metadata = new Metadata { { "x-api-key", key.Key }, { "x-request-id", requestId } };

        var call = posts.GetPostAsync(new GetPostRequest { PostId = postId }, metadata);
        Assert.Equal(postId, (await call).Id);
        Assert.Equal(requestId, (await call.ResponseHeadersAsync).GetValue("x-request-id"));

        var received = GrpcUpstream.Received.Single(r => r.PostId == postId);
        Assert.Equal("/scheduledposts.scheduling.v1.Posts/GetPost", received.Method);
        Assert.Equal(requestId, received.Headers.GetValue("x-request-id"));
        Assert.Null(received.Headers.GetValue("x-api-key")); // the key stays at the gateway
        using var validator = new InternalTokenValidator("scheduling",
            new Dictionary<string, string> { [InternalIssuers.Gateway] = InternalKeys.Gateway.PublicPem }, TimeSpan.FromSeconds(5), TimeProvider.System);
        var identity = validator.Validate(received.Headers.GetValue(InternalIdentity.Header), "POST", received.Method, out _)?.Identity;
        Assert.NotNull(identity);
        Assert.Equal((key.WorkspaceId, key.KeyId), (identity.WorkspaceId, identity.KeyId));
    }

    [Fact]
    public async Task Without_a_valid_key_a_call_is_unauthenticated_and_goes_no_further()
    {
        var posts = new Posts.PostsClient(fixture.Channel());
        string postId = $"post_{Guid.NewGuid():N}";

        var none = await Assert.ThrowsAsync<RpcException>(async () => await posts.GetPostAsync(new GetPostRequest { PostId = postId }));
        Assert.Equal(StatusCode.Unauthenticated, none.StatusCode);
        Assert.Equal(("UNAUTHENTICATED", "scheduledposts"), (Info(none)?.Reason, Info(none)?.Domain));

        var wrong = await Assert.ThrowsAsync<RpcException>(async () => await posts.GetPostAsync(new GetPostRequest { PostId = postId }, Bearer("sp_not-a-key-0123456789-abcdefghijklmnopq")));
        Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
        Assert.DoesNotContain(GrpcUpstream.Received, r => r.PostId == postId);
    }

    [Fact]
    public async Task A_key_without_the_methods_scope_is_permission_denied_and_reads_still_pass()
    {
        var viewer = await TestKeys.InsertAsync(fixture.ConnectionString, "viewer");
        var posts = new Posts.PostsClient(fixture.Channel());

        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
            await posts.CancelPostAsync(new CancelPostRequest { PostId = "post_x" }, Bearer(viewer.Key)));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Equal("FORBIDDEN_SCOPE", Info(refused)?.Reason);
        Assert.Contains("posts:write", refused.Status.Detail, StringComparison.Ordinal);

        var accounts = new SocialAccounts.SocialAccountsClient(fixture.Channel());
        var noAccounts = await TestKeys.InsertAsync(fixture.ConnectionString, "viewer", ["posts:read"]);
        var listRefused = await Assert.ThrowsAsync<RpcException>(async () =>
            await accounts.ListSocialAccountsAsync(new ListSocialAccountsRequest(), Bearer(noAccounts.Key)));
        Assert.Equal(StatusCode.PermissionDenied, listRefused.StatusCode);
        Assert.Contains("accounts:read", listRefused.Status.Detail, StringComparison.Ordinal);

        Assert.Equal("post_y", (await posts.GetPostAsync(new GetPostRequest { PostId = "post_y" }, Bearer(viewer.Key))).Id);
    }

    [Fact]
    public async Task A_media_upload_streams_through_with_posts_write_and_a_reader_is_permission_denied()
    {
        var editor = await TestKeys.InsertAsync(fixture.ConnectionString, "editor");
        var viewer = await TestKeys.InsertAsync(fixture.ConnectionString, "viewer");
        var media = new Media.MediaClient(fixture.Channel());
        string fileName = $"{Guid.NewGuid():N}.png";

        // 3 MiB in 64 KiB chunks, streamed through to the service.
        async Task<MediaItem> UploadAsync(string key)
        {
            using var call = media.UploadMedia(Bearer(key));
            await call.RequestStream.WriteAsync(new UploadMediaRequest { Metadata = new MediaUploadMetadata { FileName = fileName, ContentType = "image/png" } });
            try
            {
                for (int i = 0; i < 48; i++)
                {
                    await call.RequestStream.WriteAsync(new UploadMediaRequest { Chunk = Google.Protobuf.ByteString.CopyFrom(new byte[64 * 1024]) });
                }

                await call.RequestStream.CompleteAsync();
            }
            catch (RpcException)
            {
                // Refused before the whole file was sent: the call's answer says why.
            }

            return await call;
        }

        var refused = await Assert.ThrowsAsync<RpcException>(() => UploadAsync(viewer.Key));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Contains("posts:write", refused.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(GrpcUpstream.Received, r => r.PostId == fileName);

        var item = await UploadAsync(editor.Key);
        Assert.Equal(48 * 64 * 1024, item.SizeBytes);
        Assert.Equal("/scheduledposts.scheduling.v1.Media/UploadMedia", GrpcUpstream.Received.Single(r => r.PostId == fileName).Method);
    }

    [Fact]
    public async Task Scheduling_settings_change_with_an_admins_key_and_an_editors_is_permission_denied()
    {
        var settings = new Settings.SettingsClient(fixture.Channel());
        int lead = Random.Shared.Next(1, 3600);
        var update = new UpdateSchedulingSettingsRequest { Settings = new SchedulingSettings { PublishLeadSeconds = lead } };

        var editor = await TestKeys.InsertAsync(fixture.ConnectionString, "editor");
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await settings.UpdateSchedulingSettingsAsync(update, Bearer(editor.Key)));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Contains("settings:write", refused.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(GrpcUpstream.Received, r => r.PostId == $"lead-{lead}");

        var admin = await TestKeys.InsertAsync(fixture.ConnectionString, "admin");
        Assert.Equal(lead, (await settings.UpdateSchedulingSettingsAsync(update, Bearer(admin.Key))).PublishLeadSeconds);
        Assert.Equal("/scheduledposts.scheduling.v1.Settings/UpdateSchedulingSettings", GrpcUpstream.Received.Single(r => r.PostId == $"lead-{lead}").Method);
    }

    [Fact]
    public async Task The_publishers_Targets_service_is_not_reachable_even_with_an_owners_key()
    {
        var owner = await TestKeys.InsertAsync(fixture.ConnectionString, "owner");
        var targets = new Targets.TargetsClient(fixture.Channel());
        string postId = $"post_{Guid.NewGuid():N}";

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = postId, TargetId = "tgt_x" }, Bearer(owner.Key)));
        Assert.Equal(StatusCode.Unimplemented, error.StatusCode);
        Assert.DoesNotContain(GrpcUpstream.Received, r => r.PostId == postId);
    }

    [Fact]
    public async Task Reflection_lists_the_public_services_and_not_Targets_without_a_key()
    {
        var reflection = new ServerReflection.ServerReflectionClient(fixture.Channel());
        using var call = reflection.ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var services = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();

        Assert.Contains("scheduledposts.scheduling.v1.Posts", services);
        Assert.Contains("scheduledposts.scheduling.v1.SocialAccounts", services);
        Assert.Contains("scheduledposts.scheduling.v1.Media", services);
        Assert.Contains("scheduledposts.scheduling.v1.Settings", services);
        Assert.Contains("scheduledposts.webhooks.v1.WebhookEndpoints", services);
        Assert.Contains("scheduledposts.webhooks.v1.WebhookDeliveries", services);
        Assert.Contains("grpc.health.v1.Health", services);
        Assert.DoesNotContain(services, s => s.EndsWith(".Targets", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Health_answers_without_a_key_serving_when_the_services_behind_are_ready()
    {
        var health = new Health.HealthClient(fixture.Channel());
        var answer = await health.CheckAsync(new HealthCheckRequest());
        // The echo stands in for both services' /readyz and answers 200: ready.
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, answer.Status);
    }
}

/// <summary>A gateway whose services behind cannot be reached: its gRPC health says so.</summary>
public sealed class GrpcHealthTests : IAsyncLifetime, IAsyncDisposable
{
    private readonly TestResources _resources = new();
    private GatewayFactory _gateway = null!;

    public async Task InitializeAsync()
    {
        var echo = _resources.Add(await EchoUpstream.StartAsync());
        // Scheduling answers its /readyz; webhooks does not listen.
        _gateway = _resources.Add(GatewayFactory.Create(await _resources.CreateDatabaseAsync(), echo.Address, EchoUpstream.ClosedAddress()));
        _ = _gateway.Server;
    }

    public Task DisposeAsync() => _resources.DisposeAsync().AsTask();

    ValueTask IAsyncDisposable.DisposeAsync() => _resources.DisposeAsync();

    [Fact]
    public async Task Health_says_not_serving_while_a_service_behind_is_not_ready()
    {
        var channel = GrpcChannel.ForAddress(_gateway.Server.BaseAddress, new GrpcChannelOptions { HttpHandler = _gateway.Server.CreateHandler() });
        var answer = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, answer.Status);
    }
}
