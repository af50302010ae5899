using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Scheduling.Accounts;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// The publisher's side of a refused token (docs/platforms.md#tokens): <c>Targets.RefreshCredentials</c> for the holder of
/// a target's live lease. An OAuth account with nothing to refresh with becomes <c>reauth_required</c> (and says so on
/// the bus); its next due target fails <c>ACCOUNT_REAUTH_REQUIRED</c> at the claim, without reaching the publisher; so
/// does a refused app password, which nothing can renew; a sandbox account has nothing to refresh; a lease that is not
/// live gets nothing.
/// </summary>
public sealed class RefreshCredentialsTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_refused_token_without_a_refresh_token_marks_the_account_and_its_next_target_fails_at_the_claim()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        using var client = factory.Client(workspace);
        string account = await InsertXAccountAsync(workspace, accessToken: "token-1");
        // A second post already waits for the account when its grant turns out to be gone.
        var second = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow.AddSeconds(2));
        var first = await ClaimAsync(client, account);

        var refresh = await factory.TargetsClient().RefreshCredentialsAsync(new RefreshCredentialsRequest
        {
            TargetId = first.Target.TargetId, LeaseToken = first.Target.LeaseToken, RefusedAccessToken = "token-1",
        });

        Assert.Equal(RefreshCredentialsResponse.Types.Outcome.ReauthRequired, refresh.Outcome);
        Assert.Empty(refresh.CredentialsJson);
        var shown = await client.GetFromJsonAsync<JsonObject>($"/v1/social-accounts/{account}");
        Assert.Equal("reauth_required", shown!["status"]!.GetValue<string>());
        await Eventually.Until(() => Task.FromResult(factory.AccountEvents.Count(e => e.AccountId == account && e.Type == "account.reauth_required")),
            n => n == 1, Patience, "account.reauth_required on the bus");

        // The next due target of the account is not handed to the publisher: it fails at the claim.
        string targetId = second["targets"]![0]!["id"]!.GetValue<string>();
        var due = await Eventually.Until(() => Task.FromResult(factory.Due.Where(d => d.Message.TargetId == targetId).ToList()), d => d.Count > 0, Patience, "the second target due");
        var refused = await factory.TargetsClient().ClaimTargetAsync(new ClaimTargetRequest
        {
            PostId = second["id"]!.GetValue<string>(), TargetId = targetId, ScheduleVersion = due[^1].Message.ScheduleVersion,
        });
        Assert.False(refused.Claimed);
        Assert.Equal("account_reauth_required", refused.Reason);
        var view = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{second["id"]!.GetValue<string>()}"))!;
        Assert.Equal("failed", view["status"]!.GetValue<string>());
        Assert.Equal("ACCOUNT_REAUTH_REQUIRED", view["targets"]![0]!["errorCode"]!.GetValue<string>());

        // And no new post may target it until it is connected again.
        var refusedPost = await client.PostAsJsonAsync("/v1/posts", new { caption = "Hello", targets = new[] { new { socialAccountId = account } } });
        var error = await refusedPost.AssertEnvelopeAsync(System.Net.HttpStatusCode.UnprocessableEntity, "VALIDATION");
        Assert.Contains("connected again", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_app_password_cannot_be_renewed_so_the_account_is_marked_and_says_so()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        using var client = factory.Client(workspace);
        string account = await InsertAccountAsync(workspace, "bluesky",
            """{"identifier": "alice.bsky.social", "appPassword": "abcd-efgh-ijkl-mnop", "service": "https://bsky.social"}""");
        var claim = await ClaimAsync(client, account);

        var refresh = await factory.TargetsClient().RefreshCredentialsAsync(new RefreshCredentialsRequest
        {
            TargetId = claim.Target.TargetId, LeaseToken = claim.Target.LeaseToken,
        });

        Assert.Equal(RefreshCredentialsResponse.Types.Outcome.ReauthRequired, refresh.Outcome);
        Assert.Equal("reauth_required", (await client.GetFromJsonAsync<JsonObject>($"/v1/social-accounts/{account}"))!["status"]!.GetValue<string>());
        await Eventually.Until(() => Task.FromResult(factory.AccountEvents.Count(e => e.AccountId == account && e.Type == "account.reauth_required")),
            n => n == 1, Patience, "account.reauth_required on the bus");
    }

    [Fact]
    public async Task A_token_that_was_replaced_meanwhile_is_answered_with_the_current_credentials()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        using var client = factory.Client(workspace);
        string account = await InsertXAccountAsync(workspace, accessToken: "token-new");
        var claim = await ClaimAsync(client, account);

        var refresh = await factory.TargetsClient().RefreshCredentialsAsync(new RefreshCredentialsRequest
        {
            TargetId = claim.Target.TargetId, LeaseToken = claim.Target.LeaseToken, RefusedAccessToken = "token-old",
        });

        Assert.Equal(RefreshCredentialsResponse.Types.Outcome.Refreshed, refresh.Outcome);
        Assert.Contains("token-new", refresh.CredentialsJson, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_account_without_credentials_has_nothing_to_refresh_and_a_lease_that_is_not_live_gets_nothing()
    {
        using var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAccountAsync(client, "sandboxed");
        var claim = await ClaimAsync(client, account);
        var targets = factory.TargetsClient();

        var sandbox = await targets.RefreshCredentialsAsync(new RefreshCredentialsRequest { TargetId = claim.Target.TargetId, LeaseToken = claim.Target.LeaseToken });
        var stale = await Assert.ThrowsAsync<RpcException>(async () => await targets.RefreshCredentialsAsync(
            new RefreshCredentialsRequest { TargetId = claim.Target.TargetId, LeaseToken = Guid.NewGuid().ToString() }));

        Assert.Equal(RefreshCredentialsResponse.Types.Outcome.NotRefreshed, sandbox.Outcome);
        Assert.NotEqual(StatusCode.OK, stale.StatusCode);
        Assert.Equal("active", (await client.GetFromJsonAsync<JsonObject>($"/v1/social-accounts/{account}"))!["status"]!.GetValue<string>());
    }

    /// <summary>An X account as an OAuth connection leaves it: an access token, no refresh token.</summary>
    private Task<string> InsertXAccountAsync(string workspace, string accessToken)
        => InsertAccountAsync(workspace, "x", $$"""{"accessToken": "{{accessToken}}", "userId": "42", "username": "alice"}""");

    private async Task<string> InsertAccountAsync(string workspace, string platform, string credentialsJson)
    {
        string id = $"acc_{Guid.NewGuid():N}";
        byte[] credentials = factory.Services.GetRequiredService<CredentialProtector>().Protect(id, credentialsJson);
        await using var connection = new NpgsqlConnection(factory.ConnectionString);
        await connection.OpenAsync();
        await using var insert = new NpgsqlCommand("""
            INSERT INTO scheduling.social_accounts (id, workspace_id, platform, handle, status, credentials, external_id)
            VALUES (@id, @workspace, @platform, '@alice', 'active', @credentials, '42')
            """, connection);
        insert.Parameters.AddWithValue("id", id);
        insert.Parameters.AddWithValue("workspace", workspace);
        insert.Parameters.AddWithValue("platform", platform);
        insert.Parameters.AddWithValue("credentials", credentials);
        await insert.ExecuteNonQueryAsync();
        return id;
    }

    private async Task<ClaimTargetResponse> ClaimAsync(HttpClient client, string account)
    {
        var post = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow);
        string postId = post["id"]!.GetValue<string>(), targetId = post["targets"]![0]!["id"]!.GetValue<string>();
        var targets = factory.TargetsClient();
        return await Eventually.Until(async () =>
        {
            var due = factory.Due.Where(d => d.Message.TargetId == targetId).Select(d => d.Message).ToList();
            return due.Count > 0
                ? await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = postId, TargetId = targetId, ScheduleVersion = due[^1].ScheduleVersion })
                : new ClaimTargetResponse();
        }, c => c.Claimed, Patience, "the target to be due and claimed");
    }
}
