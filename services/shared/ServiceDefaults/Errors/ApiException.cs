using Microsoft.AspNetCore.Http;

namespace ScheduledPosts.ServiceDefaults.Errors;

/// <summary>One problem with the request body or query, located by a JSON path.</summary>
public sealed record ValidationIssue(string Path, string Message);

/// <summary>
/// A failure the caller can act on, in the envelope of docs/api.md#errors. The core throws it; the REST and gRPC
/// adapters map it (<see cref="ErrorEnvelope"/>, <see cref="Grpc.ApiErrorInterceptor"/>).
/// </summary>
public sealed class ApiException(int status, string code, string message, IReadOnlyList<ValidationIssue>? issues = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public IReadOnlyList<ValidationIssue>? Issues { get; } = issues;

    public static ApiException BadRequest(string message) => new(StatusCodes.Status400BadRequest, "BAD_REQUEST", message);
    public static ApiException Unauthenticated(string message = "A valid API key is required.") => new(StatusCodes.Status401Unauthorized, "UNAUTHENTICATED", message);
    public static ApiException Forbidden(string message) => new(StatusCodes.Status403Forbidden, "FORBIDDEN_SCOPE", message);
    public static ApiException NotFound(string what) => new(StatusCodes.Status404NotFound, "NOT_FOUND", $"{what} not found.");
    public static ApiException Conflict(string message) => new(StatusCodes.Status409Conflict, "CONFLICT", message);
    public static ApiException Validation(string path, string message) => new(StatusCodes.Status422UnprocessableEntity, "VALIDATION", message, [new ValidationIssue(path, message)]);

    public static ApiException Validation(IReadOnlyList<ValidationIssue> issues)
        => new(StatusCodes.Status422UnprocessableEntity, "VALIDATION", issues[0].Message, issues);
}
