using System.Net;
using Grpc.Core;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// The scheduling service trusts an identity only in a token signed by the gateway (or, for Targets, the publisher)
/// for this service, this method and this path, moments ago, once; and checks the scopes of each operation itself.
/// </summary>
public sealed class InternalIdentityTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static readonly InternalIdentity Editor = new(Workspace, "key_editor", ["posts:read", "posts:write", "accounts:read", "accounts:write"]);
    private static readonly InternalIdentity Viewer = new(Workspace, "key_viewer", ["posts:read", "accounts:read"]);

    private async Task<HttpStatusCode> SendAsync(HttpMethod method, string path, string? token)
    {
        using var client = factory.CreateClient();
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Add(InternalIdentity.Header, token);
        }

        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    [Fact]
    public async Task A_forged_expired_or_other_audience_identity_is_401()
    {
        string path = "/v1/posts";
        string Gateway(InternalTokenIssuer issuer, string audience = "scheduling") => issuer.Issue(Editor, audience, "GET", path);

        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Get, path, Gateway(InternalKeys.GatewayIssuer)));
        // Signed with a key the service does not trust, claiming to be the gateway.
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Get, path, Gateway(InternalKeys.Stranger.Issuer(InternalIssuers.Gateway))));
        // The gateway's key, but issued 40 s ago (tokens live 30 s; 5 s of clock skew allowed).
        var past = InternalKeys.Gateway.Issuer(InternalIssuers.Gateway, new ShiftedClock(TimeSpan.FromSeconds(-40)));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Get, path, Gateway(past)));
        // Issued in the future.
        var future = InternalKeys.Gateway.Issuer(InternalIssuers.Gateway, new ShiftedClock(TimeSpan.FromSeconds(40)));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Get, path, Gateway(future)));
        // Issued for the webhooks service, replayed here.
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Get, path, Gateway(InternalKeys.GatewayIssuer, "webhooks")));
        // The signature of another token.
        string[] good = Gateway(InternalKeys.GatewayIssuer).Split('.');
        string[] other = InternalKeys.GatewayIssuer.Issue(Editor with { WorkspaceId = "ws_other" }, "scheduling", "GET", path).Split('.');
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Get, path, $"{good[0]}.{other[1]}.{good[2]}"));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Get, path, "v1.eyJXIjoid3NfeCJ9.forged"));
    }

    [Fact]
    public async Task A_token_is_accepted_once()
    {
        string token = InternalKeys.GatewayIssuer.Issue(Editor, "scheduling", "GET", "/v1/posts");
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Get, "/v1/posts", token));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Get, "/v1/posts", token));
    }

    [Fact]
    public async Task A_viewers_token_replayed_as_a_cancel_is_refused_and_a_viewer_cannot_cancel_at_the_service_either()
    {
        var editor = factory.Client(Workspace, Editor.KeyId, [.. Editor.Scopes]);
        string account = await ConnectAccountAsync(editor, "viewer-replay");
        var post = await CreatePostAsync(editor, [account], DateTimeOffset.UtcNow.AddHours(1));
        string id = post["id"]!.GetValue<string>();

        // A captured viewer's read, sent as a cancel: issued for another method and path.
        string read = InternalKeys.FromGateway(Viewer, "scheduling", "GET", $"/v1/posts/{id}");
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Post, $"/v1/posts/{id}/cancel", read));

        // A viewer's identity properly signed for the cancel (a gateway that forgot its scope check): the service's own policy refuses it.
        var viewer = factory.Client(Workspace, Viewer.KeyId, [.. Viewer.Scopes]);
        var (status, body) = await SchedulingFactory.SendAsync(viewer, HttpMethod.Post, $"/v1/posts/{id}/cancel");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("FORBIDDEN_SCOPE", ErrorCode(body));
        var (_, deleted) = await SchedulingFactory.SendAsync(viewer, HttpMethod.Delete, $"/v1/posts/{id}");
        Assert.Equal("FORBIDDEN_SCOPE", ErrorCode(deleted));
        var (accountStatus, _) = await SchedulingFactory.SendAsync(viewer, HttpMethod.Delete, $"/v1/social-accounts/{account}");
        Assert.Equal(HttpStatusCode.Forbidden, accountStatus);

        var (readStatus, unchanged) = await SchedulingFactory.SendAsync(viewer, HttpMethod.Get, $"/v1/posts/{id}");
        Assert.Equal(HttpStatusCode.OK, readStatus);
        Assert.Equal("scheduled", Status(unchanged));
    }

    [Fact]
    public async Task Only_the_publishers_own_key_claims_targets()
    {
        var editor = factory.Client(Workspace, Editor.KeyId, [.. Editor.Scopes]);
        string account = await ConnectAccountAsync(editor, "claims");
        var post = await CreatePostAsync(editor, [account], DateTimeOffset.UtcNow);
        string postId = post["id"]!.GetValue<string>();
        string targetId = post["targets"]![0]!["id"]!.GetValue<string>();
        var due = await Eventually.Until(() => Task.FromResult(factory.Due.Select(d => d.Message).LastOrDefault(m => m.TargetId == targetId)),
            m => m is not null, TimeSpan.FromSeconds(30), "the target to be due");
        var claim = new ClaimTargetRequest { PostId = postId, TargetId = targetId, ScheduleVersion = due!.ScheduleVersion };

        // The webhooks service holds no private key at all; one it made itself, or any key but the publisher's, is not trusted.
        var webhooksOwn = factory.TargetsClient(InternalKeys.Stranger.Issuer("webhooks"), InternalIdentity.Service("webhooks", InternalScopes.Targets, "internal"));
        var asPublisher = factory.TargetsClient(InternalKeys.Stranger.Issuer(InternalIssuers.Publisher), InternalIdentity.Service(InternalIssuers.Publisher, InternalScopes.Targets));
        // The gateway's key (the only one the webhooks service's peers could have minted with before) claiming the targets scope.
        var gateway = factory.TargetsClient(InternalKeys.GatewayIssuer, InternalIdentity.Service(InternalIssuers.Gateway, InternalScopes.Targets, "internal"));
        // The publisher's key without its scope.
        var unscoped = factory.TargetsClient(InternalKeys.PublisherIssuer, InternalIdentity.Service(InternalIssuers.Publisher));

        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => webhooksOwn.ClaimTargetAsync(claim).ResponseAsync)).StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => asPublisher.ClaimTargetAsync(claim).ResponseAsync)).StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => gateway.ClaimTargetAsync(claim).ResponseAsync)).StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => unscoped.ClaimTargetAsync(claim).ResponseAsync)).StatusCode);
        var media = gateway.ReadMedia(new ReadMediaRequest { TargetId = targetId, LeaseToken = Guid.NewGuid().ToString(), MediaId = "med_x" });
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => media.ResponseStream.MoveNext())).StatusCode);

        var claimed = await factory.TargetsClient().ClaimTargetAsync(claim);
        Assert.True(claimed.Claimed, claimed.Reason);
    }

    [Fact]
    public async Task Health_is_open_and_grpc_reflection_needs_an_identity()
    {
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Get, "/healthz", null));
        using var client = factory.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
        {
            Version = HttpVersion.Version20,
            Content = new ByteArrayContent([]),
        };
        request.Content.Headers.ContentType = new("application/grpc");
        using var response = await client.SendAsync(request);
        // Refused before the call, in gRPC's own terms: UNAUTHENTICATED (16) in a trailers-only answer.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("16", response.Headers.GetValues("grpc-status").Single());
    }

    private sealed class ShiftedClock(TimeSpan offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + offset;
    }
}
