using System.Globalization;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Microsoft.AspNetCore.Http;

namespace ScheduledPosts.ServiceDefaults.Errors;

/// <summary>
/// The error envelope's gRPC form (docs/api.md#grpc-errors): the status code of the REST status, and a
/// <c>google.rpc.Status</c> in <c>grpc-status-details-bin</c> with <c>ErrorInfo</c> (reason = the REST error code, domain
/// <see cref="Domain"/>), <c>BadRequest</c> field violations named by proto field paths, and <c>RetryInfo</c> where REST
/// sends <c>Retry-After</c>. Raised by the services' interceptor, written by <see cref="ErrorEnvelope"/> for a gRPC call
/// refused before it reached a service (the gateway's key, scope and rate checks).
/// </summary>
public static class GrpcErrors
{
    public const string Domain = "scheduledposts";

    // Fields whose JSON path continues with a map key, which keeps its spelling (credentials.accessToken).
    private static readonly HashSet<string> MapFields = ["metadata", "credentials"];

    public static bool IsGrpc(Microsoft.AspNetCore.Http.HttpRequest request) => request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true;

    /// <summary>The gRPC status of a REST status.</summary>
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

    public static Google.Rpc.Status Status(StatusCode code, string reason, string message, IReadOnlyList<ValidationIssue>? issues = null, TimeSpan? retryAfter = null)
    {
        var status = new Google.Rpc.Status { Code = (int)code, Message = message };
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

        return status;
    }

    /// <summary>
    /// Answers a gRPC call with the error and no message (a trailers-only response). A call to no known method is
    /// UNIMPLEMENTED, as gRPC servers answer it; <c>Retry-After</c>, if set, becomes <c>RetryInfo</c>.
    /// </summary>
    public static Task Write(HttpContext context, int httpStatus, string reason, string message, IReadOnlyList<ValidationIssue>? issues)
    {
        var response = context.Response;
        var code = httpStatus == StatusCodes.Status404NotFound && context.GetEndpoint() is null ? StatusCode.Unimplemented : StatusOf(httpStatus);
        TimeSpan? retryAfter = int.TryParse(response.Headers.RetryAfter, NumberStyles.None, CultureInfo.InvariantCulture, out int seconds)
            ? TimeSpan.FromSeconds(seconds) : null;
        var status = Status(code, reason, message, issues, retryAfter);
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        response.Headers["grpc-status"] = ((int)code).ToString(CultureInfo.InvariantCulture);
        response.Headers["grpc-message"] = Uri.EscapeDataString(message);
        response.Headers["grpc-status-details-bin"] = Convert.ToBase64String(status.ToByteArray());
        return Task.CompletedTask;
    }

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
