using System.Text;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Grpc.Core.Interceptors;
using ScheduledPosts.ServiceDefaults.Errors;
using Status = Google.Rpc.Status;

namespace ScheduledPosts.ServiceDefaults.Messaging;

/// <summary>
/// The one place the core's <see cref="ApiException"/> becomes a gRPC error (docs/api.md#grpc-errors): the status code
/// of the REST status, and a <c>google.rpc.Status</c> in <c>grpc-status-details-bin</c> with <c>ErrorInfo</c> (reason =
/// the REST error code), <c>BadRequest</c> field violations named by proto field paths, and <c>RetryInfo</c> where REST
/// sends <c>Retry-After</c>.
/// </summary>
public sealed class ApiErrorInterceptor : Interceptor
{
    public const string Domain = "scheduledposts";

    /// <summary>What REST's <c>Retry-After: 1</c> on a 503 says.</summary>
    private static readonly TimeSpan OutageRetryDelay = TimeSpan.FromSeconds(1);

    // Fields whose JSON path continues with a map key, which keeps its spelling (credentials.accessToken).
    private static readonly HashSet<string> MapFields = ["metadata", "credentials"];

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception error) when (ToRpcException(error) is { } mapped)
        {
            throw mapped;
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        catch (Exception error) when (ToRpcException(error) is { } mapped)
        {
            throw mapped;
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception error) when (ToRpcException(error) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <summary>The gRPC error for <paramref name="error"/>, or null to let gRPC answer it (INTERNAL, no details).</summary>
    public static RpcException? ToRpcException(Exception error) => error switch
    {
        ApiException api => ToRpcException(StatusOf(api.Status), api.Code, api.Message, api.Issues, retryAfter: null),
        // The database is away, not the request wrong: UNAVAILABLE tells the caller to retry (a claim is redelivered).
        _ when DatabaseOutage.Is(error) => ToRpcException(StatusCode.Unavailable, "UNAVAILABLE",
            "The service cannot reach its database; try again shortly.", issues: null, OutageRetryDelay),
        _ => null,
    };

    public static RpcException ToRpcException(StatusCode code, string reason, string message, IReadOnlyList<ValidationIssue>? issues, TimeSpan? retryAfter)
    {
        var status = new Status { Code = (int)code, Message = message };
        status.Details.Add(Any.Pack(new ErrorInfo { Reason = reason, Domain = Domain }));
        if (issues is { Count: > 0 })
        {
            var badRequest = new BadRequest();
            badRequest.FieldViolations.AddRange(issues.Select(i => new BadRequest.Types.FieldViolation { Field = ProtoFieldPath(i.Path), Description = i.Message }));
            status.Details.Add(Any.Pack(badRequest));
        }

        if (retryAfter is { } delay)
        {
            status.Details.Add(Any.Pack(new RetryInfo { RetryDelay = Duration.FromTimeSpan(delay) }));
        }

        return status.ToRpcException();
    }

    /// <summary>The gRPC status of a REST status (docs/api.md#grpc-errors).</summary>
    public static StatusCode StatusOf(int httpStatus) => httpStatus switch
    {
        400 or 413 or 422 => StatusCode.InvalidArgument,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.NotFound,
        409 => StatusCode.FailedPrecondition,
        412 => StatusCode.Aborted,
        429 => StatusCode.ResourceExhausted,
        503 => StatusCode.Unavailable,
        _ => StatusCode.Internal,
    };

    /// <summary>
    /// The core names a field by its REST JSON path (<c>targets[0].socialAccountId</c>); a gRPC caller knows it by the
    /// proto field's (<c>targets[0].social_account_id</c>). Map keys keep their spelling.
    /// </summary>
    public static string ProtoFieldPath(string jsonPath)
    {
        var path = new StringBuilder(jsonPath.Length + 8);
        bool inMapKey = false;
        foreach (string segment in jsonPath.Split('.'))
        {
            if (path.Length > 0)
            {
                path.Append('.');
            }

            if (inMapKey)
            {
                path.Append(segment);
                inMapKey = false;
                continue;
            }

            foreach (char c in segment)
            {
                if (char.IsAsciiLetterUpper(c))
                {
                    path.Append('_').Append(char.ToLowerInvariant(c));
                }
                else
                {
                    path.Append(c);
                }
            }

            inMapKey = MapFields.Contains(segment);
        }

        return path.ToString();
    }
}
