using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ScheduledPosts.Scheduling.Accounts;
using ScheduledPosts.Scheduling.Accounts.OAuth;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Identity;
using static ScheduledPosts.Scheduling.Grpc.Messages;
using V1 = ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Scheduling.Grpc;

/// <summary>Social accounts for internal callers (scheduling.proto), over the same <see cref="Accounts.SocialAccounts"/> and <see cref="OAuthConnections"/> as REST.</summary>
public sealed class SocialAccountsGrpcService(SocialAccounts accounts, OAuthConnections connections) : V1.SocialAccounts.SocialAccountsBase
{
    [Authorize(Policy = InternalPolicies.AccountsWrite)]
    public override async Task<V1.SocialAccount> CreateSocialAccount(V1.CreateSocialAccountRequest request, ServerCallContext context)
    {
        var connect = new ConnectAccountRequest(NullIfEmpty(request.Platform), NullIfEmpty(request.Handle), NullIfEmpty(request.DisplayName),
            request.Credentials.Count == 0 ? null : request.Credentials.ToDictionary());
        // A Bluesky account the workspace has already is connected again under its id, as over REST.
        return SocialAccount((await accounts.ConnectAsync(Who(context).WorkspaceId, connect, context.CancellationToken)).Account);
    }

    [Authorize(Policy = InternalPolicies.AccountsRead)]
    public override async Task<V1.SocialAccount> GetSocialAccount(V1.GetSocialAccountRequest request, ServerCallContext context)
        => SocialAccount(await accounts.GetAsync(Who(context).WorkspaceId, request.SocialAccountId));

    [Authorize(Policy = InternalPolicies.AccountsRead)]
    public override async Task<V1.ListSocialAccountsResponse> ListSocialAccounts(V1.ListSocialAccountsRequest request, ServerCallContext context)
    {
        var (page, next) = await accounts.ListAsync(Who(context).WorkspaceId, PageRequest.Parse(request.PageSize, request.PageToken));
        var response = new V1.ListSocialAccountsResponse { NextPageToken = next ?? "" };
        response.SocialAccounts.AddRange(page.Select(SocialAccount));
        return response;
    }

    [Authorize(Policy = InternalPolicies.AccountsWrite)]
    public override async Task<V1.SocialAccount> DeleteSocialAccount(V1.DeleteSocialAccountRequest request, ServerCallContext context)
        => SocialAccount(await accounts.DisconnectAsync(Who(context).WorkspaceId, request.SocialAccountId));

    [Authorize(Policy = InternalPolicies.AccountsWrite)]
    public override async Task<V1.StartOAuthConnectionResponse> StartOAuthConnection(V1.StartOAuthConnectionRequest request, ServerCallContext context)
    {
        var started = await connections.StartAsync(Who(context),
            new StartConnectRequest(NullIfEmpty(request.Platform), NullIfEmpty(request.RedirectUri), NullIfEmpty(request.State)), context.CancellationToken);
        return new V1.StartOAuthConnectionResponse { AuthorizationUrl = started.AuthorizationUrl, ExpireTime = Time(started.ExpiresAt) };
    }

    private static InternalIdentity Who(ServerCallContext context) => InternalCaller.Current(context.GetHttpContext());
}
