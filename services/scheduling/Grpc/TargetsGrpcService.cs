using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Scheduling.Accounts.OAuth;
using ScheduledPosts.Scheduling.Media;
using ScheduledPosts.Scheduling.Publishing;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Scheduling.Grpc;

/// <summary>
/// The publisher's internal API: claim due targets (one, or many in one call), read their media, complete them. Mapped with the
/// <see cref="InternalPolicies.Targets"/> policy: only the publisher's own identity (its key pair, the <c>targets</c>
/// scope) gets here; the gateway's tokens, whatever scopes they state, are refused (403).
/// </summary>
public sealed class TargetsGrpcService(TargetClaims claims, TargetRemovals removals, MediaLibrary media, OAuthTokens tokens) : Targets.TargetsBase
{
    // Well under gRPC's 4 MiB message limit; large enough that a 50 MiB file is a few hundred messages.
    private const int ChunkSize = 64 * 1024;

    /// <summary>The most claims one ClaimTargets call, or reports one CompleteTargets call, may carry.</summary>
    public const int MaxPerCall = 500;

    public override async Task<ClaimTargetResponse> ClaimTarget(ClaimTargetRequest request, ServerCallContext context)
    {
        // Read before the claim, so a failure here leaves nothing claimed (the publisher retries the message). A
        // post's media links change only while it is a draft, whose targets cannot be claimed.
        var postMedia = await media.OfPostAsync(request.PostId, context.CancellationToken);
        // The call's token is cancelled when the publisher's deadline passes: a claim it no longer waits for is not granted.
        var (target, reason) = await claims.ClaimAsync(request.PostId, request.TargetId, request.ScheduleVersion, context.CancellationToken);
        return Answer(target, reason, postMedia);
    }

    public override async Task<ClaimTargetsResponse> ClaimTargets(ClaimTargetsRequest request, ServerCallContext context)
    {
        if (request.Claims.Count > MaxPerCall)
        {
            throw ApiException.Validation("claims", $"At most {MaxPerCall} claims per call.");
        }

        if (request.Claims.Count == 0)
        {
            return new ClaimTargetsResponse();
        }

        // As for one claim: the media first, then the claims, not granted once the caller's deadline passed.
        var postMedia = await media.OfPostsAsync([.. request.Claims.Select(c => c.PostId).Distinct(StringComparer.Ordinal)], context.CancellationToken);
        var answers = await claims.ClaimManyAsync(
            [.. request.Claims.Select(c => new TargetClaims.ClaimRequest(c.PostId, c.TargetId, c.ScheduleVersion))], callerGaveUp: context.CancellationToken);
        return new ClaimTargetsResponse
        {
            Results = { answers.Select((a, i) => Answer(a.Target, a.Reason, postMedia[request.Claims[i].PostId])) },
        };
    }

    private static ClaimTargetResponse Answer(TargetClaims.ClaimedTarget? target, string reason, IEnumerable<PostMedia> postMedia)
    {
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
                AccountId = target.AccountId,
                AccountHandle = target.AccountHandle,
                Text = target.Text,
                IdempotencyKey = target.TargetId,
                LeaseToken = target.LeaseToken.ToString(),
                LeaseExpiresAt = Timestamp.FromDateTimeOffset(target.LeaseExpiresAt),
                Attempt = target.Attempt,
                CredentialsJson = target.CredentialsJson,
                FirstComment = target.FirstComment ?? "",
                ClaimEpoch = target.Epoch,
                FirstClaimedAt = Timestamp.FromDateTimeOffset(target.FirstClaimedAt),
                Media =
                {
                    postMedia.Select(m => new ClaimedMedia
                    {
                        MediaId = m.Id,
                        ContentType = m.ContentType,
                        SizeBytes = m.SizeBytes,
                        Kind = MediaKind.Of(m.ContentType) ?? "",
                        AltText = m.AltText ?? "",
                        Filename = m.Filename ?? m.Id,
                    }),
                },
            },
        };
    }

    public override async Task<CompleteTargetResponse> CompleteTarget(CompleteTargetRequest request, ServerCallContext context)
    {
        var (targetStatus, postStatus) = await claims.CompleteAsync(ReportOf(request));
        return new CompleteTargetResponse { TargetStatus = targetStatus, PostStatus = postStatus };
    }

    public override async Task<CompleteTargetsResponse> CompleteTargets(CompleteTargetsRequest request, ServerCallContext context)
    {
        if (request.Reports.Count > MaxPerCall)
        {
            throw ApiException.Validation("reports", $"At most {MaxPerCall} reports per call.");
        }

        var results = new CompleteTargetsResult[request.Reports.Count];
        var reports = new List<(int Index, TargetClaims.Report Report)>();
        for (int i = 0; i < request.Reports.Count; i++)
        {
            try
            {
                reports.Add((i, ReportOf(request.Reports[i])));
            }
            catch (ApiException refused)
            {
                results[i] = new CompleteTargetsResult { ErrorCode = refused.Code, ErrorMessage = refused.Message };
            }
        }

        List<TargetClaims.ReportResult> applied = reports.Count == 0 ? [] : await claims.CompleteManyAsync([.. reports.Select(r => r.Report)]);
        for (int j = 0; j < reports.Count; j++)
        {
            results[reports[j].Index] = applied[j] switch
            {
                { PostBusy: true } => new CompleteTargetsResult
                {
                    ErrorCode = BusyPost.ReportErrorCode,
                    ErrorMessage = "Its post was being changed by another call; nothing was done: send it again on its own (CompleteTarget).",
                },
                { Refused: { } refused } => new CompleteTargetsResult { ErrorCode = refused.Code, ErrorMessage = refused.Message },
                _ => new CompleteTargetsResult { Completed = new CompleteTargetResponse { TargetStatus = applied[j].TargetStatus, PostStatus = applied[j].PostStatus } },
            };
        }

        return new CompleteTargetsResponse { Results = { results } };
    }

    private static TargetClaims.Report ReportOf(CompleteTargetRequest request)
    {
        if (!Guid.TryParse(request.LeaseToken, out var leaseToken))
        {
            throw ApiException.Validation("leaseToken", "lease_token is not a lease token.");
        }

        TargetClaims.Outcome outcome = request.OutcomeCase switch
        {
            CompleteTargetRequest.OutcomeOneofCase.Published => new TargetClaims.Published(request.Published.ExternalPostId, LinkOrNull(request.Published.ExternalUrl)),
            CompleteTargetRequest.OutcomeOneofCase.Failed => new TargetClaims.Failed(request.Failed.ErrorCode, request.Failed.ErrorMessage, request.Failed.Retryable),
            _ => throw ApiException.Validation("outcome", "Either published or failed is required."),
        };
        var retryAfter = request.OutcomeCase == CompleteTargetRequest.OutcomeOneofCase.Failed ? request.Failed.RetryAfter?.ToTimeSpan() : null;
        return new TargetClaims.Report(request.TargetId, leaseToken, outcome, retryAfter);
    }

    public override async Task<RenewLeaseResponse> RenewLease(RenewLeaseRequest request, ServerCallContext context)
    {
        if (!Guid.TryParse(request.LeaseToken, out var leaseToken))
        {
            throw ApiException.Validation("leaseToken", "lease_token is not a lease token.");
        }

        var expires = await claims.RenewAsync(request.TargetId, leaseToken)
            ?? throw ApiException.Conflict("This claim is no longer the live one; stop its upload.");
        return new RenewLeaseResponse { LeaseExpiresAt = Timestamp.FromDateTimeOffset(expires) };
    }

    public override async Task<RefreshCredentialsResponse> RefreshCredentials(RefreshCredentialsRequest request, ServerCallContext context)
    {
        if (!Guid.TryParse(request.LeaseToken, out var leaseToken))
        {
            throw ApiException.Validation("leaseToken", "lease_token is not a lease token.");
        }

        string accountId = await claims.AccountOfLiveClaimAsync(request.TargetId, leaseToken)
            ?? throw ApiException.Conflict("This claim is no longer the live one; stop its upload.");
        var refused = request.RefusedAccessToken is { Length: > 0 } token ? token : null;
        return await tokens.RefusedAsync(accountId, refused, context.CancellationToken) switch
        {
            OAuthTokens.Refreshed refreshed => new() { Outcome = RefreshCredentialsResponse.Types.Outcome.Refreshed, CredentialsJson = refreshed.CredentialsJson },
            OAuthTokens.ReauthRequired => new() { Outcome = RefreshCredentialsResponse.Types.Outcome.ReauthRequired },
            OAuthTokens.Unavailable unavailable => new() { Outcome = RefreshCredentialsResponse.Types.Outcome.Unavailable, Message = unavailable.Reason },
            _ => new() { Outcome = RefreshCredentialsResponse.Types.Outcome.NotRefreshed },
        };
    }

    public override async Task ReadMedia(ReadMediaRequest request, IServerStreamWriter<MediaChunk> responseStream, ServerCallContext context)
    {
        // Errors are RpcExceptions here: the error interceptor maps unary calls only.
        if (!Guid.TryParse(request.LeaseToken, out var leaseToken))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "lease_token is not a lease token."));
        }

        var (access, content) = await media.OpenLeasedAsync(request.TargetId, leaseToken, request.MediaId, context.CancellationToken);
        switch (access)
        {
            case LeasedMediaAccess.LeaseNotHeld:
                throw new RpcException(new Status(StatusCode.PermissionDenied, $"The caller does not hold the current lease of target {request.TargetId}."));
            case LeasedMediaAccess.NotCarried:
                throw new RpcException(new Status(StatusCode.NotFound, $"The post of target {request.TargetId} carries no media {request.MediaId}."));
        }

        await using var file = content!;
        byte[] buffer = new byte[ChunkSize];
        int read;
        while ((read = await file.ReadAsync(buffer, context.CancellationToken)) > 0)
        {
            await responseStream.WriteAsync(new MediaChunk { Data = ByteString.CopyFrom(buffer, 0, read) }, context.CancellationToken);
        }
    }

    /// <summary>
    /// The published post's link as the API will show it: only an absolute http(s) URL of sane length. The platform
    /// chose it, and a client UI may render it as a link (a <c>javascript:</c> URL would run there).
    /// </summary>
    internal static string? LinkOrNull(string value)
        => value.Length is > 0 and <= 2048 && Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
            ? value
            : null;

    public override async Task<ClaimUnpublishResponse> ClaimUnpublish(ClaimUnpublishRequest request, ServerCallContext context)
    {
        var (removal, reason) = await removals.ClaimAsync(request.PostId, request.TargetId);
        return removal is null
            ? new ClaimUnpublishResponse { Claimed = false, Reason = reason }
            : new ClaimUnpublishResponse
            {
                Claimed = true,
                Reason = reason,
                Removal = new UnpublishClaim
                {
                    PostId = removal.PostId,
                    TargetId = removal.TargetId,
                    Platform = removal.Platform,
                    AccountId = removal.AccountId,
                    AccountHandle = removal.AccountHandle,
                    CredentialsJson = removal.CredentialsJson,
                    ExternalPostId = removal.ExternalPostId,
                    LeaseToken = removal.LeaseToken.ToString(),
                    LeaseExpiresAt = Timestamp.FromDateTimeOffset(removal.LeaseExpiresAt),
                    Attempt = removal.Attempt,
                },
            };
    }

    public override async Task<CompleteUnpublishResponse> CompleteUnpublish(CompleteUnpublishRequest request, ServerCallContext context)
    {
        if (!Guid.TryParse(request.LeaseToken, out var leaseToken))
        {
            throw ApiException.Validation("lease_token", "lease_token must be the token of a claim.");
        }

        var failed = request.Failed is { } f ? new TargetClaims.Failed(f.ErrorCode, f.ErrorMessage, f.Retryable) : null;
        string status = await removals.CompleteAsync(request.TargetId, leaseToken, failed, request.Failed?.RetryAfter?.ToTimeSpan());
        return new CompleteUnpublishResponse { TargetStatus = status };
    }
}
