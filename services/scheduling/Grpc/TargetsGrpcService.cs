using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Scheduling.Grpc;

/// <summary>The publisher's internal API: claim a due target, complete it. Callers need the internal scope.</summary>
public sealed class TargetsGrpcService(PostLifecycle lifecycle) : Targets.TargetsBase
{
    public override async Task<ClaimTargetResponse> ClaimTarget(ClaimTargetRequest request, ServerCallContext context)
    {
        RequireInternal(context);
        var (target, reason) = await lifecycle.ClaimAsync(request.PostId, request.TargetId, request.ScheduleVersion);
        if (target is null)
        {
            return new ClaimTargetResponse { Claimed = false, Reason = reason };
        }

        return new ClaimTargetResponse
        {
            Claimed = true,
            Reason = reason,
            Target = new ClaimedTarget
            {
                PostId = target.PostId,
                TargetId = target.TargetId,
                WorkspaceId = target.WorkspaceId,
                Platform = target.Platform,
                AccountHandle = target.AccountHandle,
                Text = target.Text,
                IdempotencyKey = target.TargetId,
                LeaseToken = target.LeaseToken.ToString(),
                LeaseExpiresAt = Timestamp.FromDateTimeOffset(target.LeaseExpiresAt),
                Attempt = target.Attempt,
                CredentialsJson = target.CredentialsJson,
                FirstComment = target.FirstComment ?? "",
            },
        };
    }

    public override async Task<CompleteTargetResponse> CompleteTarget(CompleteTargetRequest request, ServerCallContext context)
    {
        RequireInternal(context);
        if (!Guid.TryParse(request.LeaseToken, out var leaseToken))
        {
            throw ApiException.Validation("leaseToken", "lease_token is not a lease token.");
        }

        PostLifecycle.Outcome outcome = request.OutcomeCase switch
        {
            CompleteTargetRequest.OutcomeOneofCase.Published => new PostLifecycle.Published(request.Published.ExternalPostId, NullIfEmpty(request.Published.ExternalUrl)),
            CompleteTargetRequest.OutcomeOneofCase.Failed => new PostLifecycle.Failed(request.Failed.ErrorCode, request.Failed.ErrorMessage, request.Failed.Retryable),
            _ => throw ApiException.Validation("outcome", "Either published or failed is required."),
        };
        var retryAfter = request.OutcomeCase == CompleteTargetRequest.OutcomeOneofCase.Failed ? request.Failed.RetryAfter?.ToTimeSpan() : null;
        var (targetStatus, postStatus) = await lifecycle.CompleteAsync(request.TargetId, leaseToken, outcome, retryAfter);
        return new CompleteTargetResponse { TargetStatus = targetStatus, PostStatus = postStatus };
    }

    private static void RequireInternal(ServerCallContext context)
    {
        if (!InternalIdentityMiddleware.Current(context.GetHttpContext()).HasScope(InternalIdentity.InternalScope))
        {
            throw ApiException.Forbidden("Only internal services may claim and complete targets.");
        }
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
