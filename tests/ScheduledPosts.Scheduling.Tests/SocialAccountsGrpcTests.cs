using Grpc.Core;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.ServiceDefaults.Identity;
using Xunit;
using static ScheduledPosts.Testing.GrpcErrors;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>The typed SocialAccounts gRPC API: each RPC's answer and its main error, with its error details.</summary>
public sealed class SocialAccountsGrpcTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private (string Workspace, SocialAccounts.SocialAccountsClient Accounts) NewWorkspace()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        return (workspace, factory.SocialAccountsClient(new InternalIdentity(workspace, "key_grpc", ["accounts:read", "accounts:write"])));
    }

    [Fact]
    public async Task CreateSocialAccount_connects_an_account_and_refuses_an_unknown_platform_naming_the_field()
    {
        var (_, accounts) = NewWorkspace();
        var account = await accounts.CreateSocialAccountAsync(new CreateSocialAccountRequest { Platform = "sandbox", Handle = "alice", DisplayName = "Alice" });
        Assert.StartsWith("acc_", account.Id, StringComparison.Ordinal);
        Assert.Equal(("sandbox", "alice", "Alice", SocialAccountStatus.Active), (account.Platform, account.Handle, account.DisplayName, account.Status));
        Assert.NotNull(account.CreateTime);

        var unknown = await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            async () => await accounts.CreateSocialAccountAsync(new CreateSocialAccountRequest { Platform = "myspace", Handle = "tom" }));
        Assert.Equal(["platform"], Fields(unknown));

        // Credentials are a map: their keys keep the REST API's spelling in the field path.
        var noToken = await AssertFails(StatusCode.InvalidArgument, "VALIDATION", async () => await accounts.CreateSocialAccountAsync(new CreateSocialAccountRequest
        {
            Platform = "mastodon",
            Handle = "tom",
            Credentials = { ["instanceUrl"] = "https://mastodon.example" },
        }));
        Assert.Equal(["credentials.accessToken"], Fields(noToken));
        Assert.Single((await accounts.ListSocialAccountsAsync(new ListSocialAccountsRequest())).SocialAccounts);
    }

    [Fact]
    public async Task GetSocialAccount_and_ListSocialAccounts_see_the_workspace_only()
    {
        var (_, accounts) = NewWorkspace();
        var alice = await accounts.CreateSocialAccountAsync(new CreateSocialAccountRequest { Platform = "sandbox", Handle = "alice" });
        var bob = await accounts.CreateSocialAccountAsync(new CreateSocialAccountRequest { Platform = "sandbox", Handle = "bob" });

        Assert.Equal("alice", (await accounts.GetSocialAccountAsync(new GetSocialAccountRequest { SocialAccountId = alice.Id })).Handle);
        var listed = (await accounts.ListSocialAccountsAsync(new ListSocialAccountsRequest())).SocialAccounts;
        Assert.Equal(new[] { alice.Id, bob.Id }.Order(), listed.Select(a => a.Id).Order());

        var (_, other) = NewWorkspace();
        await AssertFails(StatusCode.NotFound, "NOT_FOUND", async () => await other.GetSocialAccountAsync(new GetSocialAccountRequest { SocialAccountId = alice.Id }));
        Assert.Empty((await other.ListSocialAccountsAsync(new ListSocialAccountsRequest())).SocialAccounts);
    }

    [Fact]
    public async Task DeleteSocialAccount_disconnects_it_and_an_unknown_account_is_not_found()
    {
        var (workspace, accounts) = NewWorkspace();
        var account = await accounts.CreateSocialAccountAsync(new CreateSocialAccountRequest { Platform = "sandbox", Handle = "alice" });
        var disconnected = await accounts.DeleteSocialAccountAsync(new DeleteSocialAccountRequest { SocialAccountId = account.Id });
        Assert.Equal(SocialAccountStatus.Disconnected, disconnected.Status);

        // A disconnected account can no longer be a post's target.
        var posts = factory.PostsClient(new InternalIdentity(workspace, "key_grpc", ["posts:write"]));
        var create = new CreatePostRequest { Caption = "Hello", Targets = { new TargetSpec { SocialAccountId = account.Id } } };
        var refused = await AssertFails(StatusCode.InvalidArgument, "VALIDATION", async () => await posts.CreatePostAsync(create));
        Assert.Equal(["targets[0].social_account_id"], Fields(refused));

        await AssertFails(StatusCode.NotFound, "NOT_FOUND", async () => await accounts.DeleteSocialAccountAsync(new DeleteSocialAccountRequest { SocialAccountId = "acc_unknown" }));
    }

    [Fact]
    public async Task StartOAuthConnection_refuses_a_platform_that_does_not_connect_by_OAuth_and_a_reader_cannot_connect()
    {
        var (workspace, accounts) = NewWorkspace();
        var error = await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            async () => await accounts.StartOAuthConnectionAsync(new StartOAuthConnectionRequest { Platform = "sandbox", RedirectUri = "https://app.example/done" }));
        Assert.Equal(["platform"], Fields(error));

        var reader = factory.SocialAccountsClient(new InternalIdentity(workspace, "key_reader", ["accounts:read"]));
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await reader.CreateSocialAccountAsync(new CreateSocialAccountRequest { Platform = "sandbox", Handle = "x" }));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
    }

    [Fact]
    public async Task ListSocialAccounts_pages_by_id_and_refuses_a_page_token_it_did_not_give()
    {
        var (_, accounts) = NewWorkspace();
        var created = new List<string>();
        foreach (string handle in new[] { "alice", "bob", "carol" })
        {
            created.Add((await accounts.CreateSocialAccountAsync(new CreateSocialAccountRequest { Platform = "sandbox", Handle = handle })).Id);
        }

        var first = await accounts.ListSocialAccountsAsync(new ListSocialAccountsRequest { PageSize = 2 });
        Assert.NotEmpty(first.NextPageToken);
        var last = await accounts.ListSocialAccountsAsync(new ListSocialAccountsRequest { PageSize = 2, PageToken = first.NextPageToken });
        Assert.Empty(last.NextPageToken);
        Assert.Equal(created.Order(StringComparer.Ordinal), first.SocialAccounts.Concat(last.SocialAccounts).Select(a => a.Id));
        Assert.Empty((await accounts.ListSocialAccountsAsync(new ListSocialAccountsRequest())).NextPageToken);

        var forged = await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            async () => await accounts.ListSocialAccountsAsync(new ListSocialAccountsRequest { PageToken = "not-a-token" }));
        Assert.Equal(["page_token"], Fields(forged));
        var negative = await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            async () => await accounts.ListSocialAccountsAsync(new ListSocialAccountsRequest { PageSize = -1 }));
        Assert.Equal(["page_size"], Fields(negative));
    }
}
