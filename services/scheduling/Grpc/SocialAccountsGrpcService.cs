using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ScheduledPosts.Scheduling.Accounts;
using ScheduledPosts.Scheduling.Accounts.OAuth;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.Scheduling.Queues;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using static ScheduledPosts.Scheduling.Grpc.Messages;
using V1 = ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Scheduling.Grpc;

/// <summary>Social accounts for internal callers (scheduling.proto), over the same <see cref="Accounts.SocialAccounts"/> and <see cref="OAuthConnections"/> as REST.</summary>
public sealed class SocialAccountsGrpcService(SocialAccounts accounts, OAuthConnections connections, PostingQueues queues) : V1.SocialAccounts.SocialAccountsBase
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

    [Authorize(Policy = InternalPolicies.AccountsRead)]
    public override async Task<V1.Queue> GetQueue(V1.GetQueueRequest request, ServerCallContext context)
        => Queue(await queues.GetAsync(Who(context).WorkspaceId, request.SocialAccountId));

    [Authorize(Policy = InternalPolicies.AccountsWrite)]
    public override async Task<V1.Queue> UpdateQueue(V1.UpdateQueueRequest request, ServerCallContext context)
    {
        var update = new UpdateQueueRequest(NullIfEmpty(request.Timezone), request.Slots
            .Select(s => (QueueSlotRequest?)new QueueSlotRequest(
                s.Day is >= V1.Weekday.Monday and <= V1.Weekday.Sunday ? QueueSlots.DayNames[(int)s.Day - 1] : null, NullIfEmpty(s.Time)))
            .ToList());
        return Queue(await queues.UpdateAsync(Who(context).WorkspaceId, request.SocialAccountId, update));
    }

    [Authorize(Policy = InternalPolicies.AccountsRead)]
    public override async Task<V1.ListQueueSlotsResponse> ListQueueSlots(V1.ListQueueSlotsRequest request, ServerCallContext context)
    {
        QueueNextView next;
        try
        {
            next = await queues.NextAsync(Who(context).WorkspaceId, request.SocialAccountId, request.PageSize == 0 ? 10 : request.PageSize,
                PostQuery.Instant(Rfc3339(request.FromTime, "from_time"), "from_time"));
        }
        catch (ApiException error) when (error.Issues is [{ Path: "count" }])
        {
            throw ApiException.Validation("page_size", $"page_size must be between 0 and {PostingQueues.MaxNext}.");
        }
        catch (ApiException error) when (error.Issues is [{ Path: "from" } issue])
        {
            throw ApiException.Validation("from_time", issue.Message.Replace("from ", "from_time ", StringComparison.Ordinal));
        }

        var response = new V1.ListQueueSlotsResponse();
        response.SlotTimes.AddRange(next.Slots.Select(t => Time(t)!));
        return response;
    }

    private static V1.Queue Queue(QueueView queue)
    {
        var message = new V1.Queue { SocialAccountId = queue.SocialAccountId, Timezone = queue.Timezone ?? "", UpdateTime = Time(queue.UpdatedAt) };
        message.Slots.AddRange(queue.Slots.Select(s => new V1.QueueSlot
        {
            Day = (V1.Weekday)(Array.IndexOf(QueueSlots.DayNames, s.Day) + 1),
            Time = s.Time,
        }));
        return message;
    }

    private static InternalIdentity Who(ServerCallContext context) => InternalCaller.Current(context.GetHttpContext());
}
