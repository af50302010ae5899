using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ScheduledPosts.ServiceDefaults.Errors;

/// <summary>The one error body of docs/api.md#errors: <c>{"error": {code, message, requestId, details?}}</c>.</summary>
public sealed record ErrorEnvelope(ErrorBody Error)
{
    public static ErrorEnvelope From(HttpContext context, string code, string message, IReadOnlyList<ValidationIssue>? issues = null)
        => new(new ErrorBody(code, message, RequestIds.Get(context)) { Details = issues is null ? null : new ErrorDetails(issues) });

    public static Task Write(HttpContext context, int status, string code, string message, IReadOnlyList<ValidationIssue>? issues = null)
    {
        if (GrpcErrors.IsGrpc(context.Request))
        {
            return GrpcErrors.Write(context, status, code, message, issues);
        }

        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(From(context, code, message, issues), Json.JsonDefaults.Options);
    }

    /// <summary>503 <c>UNAVAILABLE</c> with <c>Retry-After</c>: something this request needs is away for now, nothing changed.</summary>
    public static Task WriteUnavailable(HttpContext context, string message)
    {
        context.Response.Headers.RetryAfter = "1";
        return Write(context, StatusCodes.Status503ServiceUnavailable, "UNAVAILABLE", message);
    }
}

public sealed record ErrorBody(string Code, string Message, string RequestId)
{
    /// <summary>
    /// Only on a 422 <c>VALIDATION</c>: which fields were refused and why. Absent otherwise — a property, not a
    /// constructor parameter, so the OpenAPI document does not list it as required.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ErrorDetails? Details { get; init; }
}

public sealed record ErrorDetails(IReadOnlyList<ValidationIssue> Issues);

/// <summary>Turns every exception into the envelope: <see cref="ApiException"/> as itself, bad request bodies as 400, a database outage as 503, the rest as 500 without a stack trace.</summary>
public sealed partial class ErrorEnvelopeExceptionHandler(ILogger<ErrorEnvelopeExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        switch (exception)
        {
            case ApiException error:
                await ErrorEnvelope.Write(httpContext, error.Status, error.Code, error.Message, error.Issues);
                break;
            case BadHttpRequestException bad when bad.StatusCode == StatusCodes.Status413PayloadTooLarge:
                await ErrorEnvelope.Write(httpContext, bad.StatusCode, "PAYLOAD_TOO_LARGE", "The request body is too large.");
                break;
            case BadHttpRequestException bad:
                await ErrorEnvelope.Write(httpContext, StatusCodes.Status400BadRequest, "BAD_REQUEST", BadRequestMessage(bad));
                break;
            case var outage when DatabaseOutage.Is(outage):
                // Nothing was committed: the client may retry the same request (with the same Idempotency-Key).
                Log.DatabaseUnreachable(logger, outage.Message);
                await ErrorEnvelope.WriteUnavailable(httpContext, "The service cannot reach its database; try again shortly.");
                break;
            default:
                Log.Unhandled(logger, exception);
                await ErrorEnvelope.Write(httpContext, StatusCodes.Status500InternalServerError, "INTERNAL", "An internal error occurred.");
                break;
        }
        return true;
    }

    // Minimal APIs wrap JSON errors in BadHttpRequestException; say what was wrong without echoing internals.
    private static string BadRequestMessage(BadHttpRequestException bad) => bad.InnerException switch
    {
        System.Text.Json.JsonException { Path: { Length: > 0 } path } => $"The request body is not valid JSON for this operation (at {path}).",
        System.Text.Json.JsonException => "The request body is not valid JSON for this operation.",
        _ => bad.Message,
    };

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "The database is not reachable: {Reason}")]
        public static partial void DatabaseUnreachable(ILogger logger, string reason);

        [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Unhandled error")]
        public static partial void Unhandled(ILogger logger, Exception exception);
    }
}
