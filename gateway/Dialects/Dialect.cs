using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Gateway.Dialects;

/// <summary>
/// Another API the gateway speaks under its own base path (docs/migrating-*.md): its clients change only their base
/// URL. Those paths need an API key like <c>/v1</c>, and the errors the gateway answers itself there (401, 403, 429,
/// 413, 5xx) come in that API's error body, named <see cref="ErrorSchema"/> in <c>/openapi.json</c>. (Layers lives
/// under <c>/v1</c> and shares our error envelope: it needs no entry.)
/// </summary>
public sealed record Dialect(PathString BasePath, string ErrorSchema, Func<HttpContext, int, string, string, Task> WriteError)
{
    /// <summary>PostPost: <c>{"error": message}</c>, and "Invalid API key" for any refused key.</summary>
    public static readonly Dialect PostPost = new("/api/v1", "PostPostError", (context, status, _, message) =>
        Write(context, status, new PostPostErrorBody(status == StatusCodes.Status401Unauthorized ? "Invalid API key" : message)));

    /// <summary>Postbreeze: <c>{statusCode, code, message, requestId}</c> with its codes.</summary>
    public static readonly Dialect Postbreeze = new("/postbreeze/api/v1", "PostbreezeError", (context, status, code, message) =>
        Write(context, status, new PostbreezeErrorBody(status, PostbreezeCode(code), status == StatusCodes.Status401Unauthorized ? "Unauthorized" : message, RequestIds.Get(context))));

    public static readonly IReadOnlyList<Dialect> All = [PostPost, Postbreeze];

    /// <summary>The dialect whose base path <paramref name="path"/> is under, if any.</summary>
    public static Dialect? Of(PathString path) => All.FirstOrDefault(d => path.StartsWithSegments(d.BasePath));

    private static string PostbreezeCode(string code) => code switch
    {
        "UNAUTHENTICATED" => "UNAUTHORIZED",
        "FORBIDDEN_SCOPE" => "FORBIDDEN",
        _ => code,
    };

    private static Task Write<T>(HttpContext context, int status, T body)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(body, JsonDefaults.Options);
    }

    private sealed record PostPostErrorBody(string Error);

    private sealed record PostbreezeErrorBody(int StatusCode, string Code, string Message, string RequestId);
}

/// <summary>The errors the gateway answers itself: in the error body of the dialect a path belongs to, else our envelope.</summary>
public static class GatewayErrors
{
    public static Task Write(HttpContext context, int status, string code, string message)
        => Dialect.Of(context.Request.Path) is { } dialect
            ? dialect.WriteError(context, status, code, message)
            : ErrorEnvelope.Write(context, status, code, message);

    /// <summary>503 <c>UNAVAILABLE</c> with <c>Retry-After</c>.</summary>
    public static Task WriteUnavailable(HttpContext context, string message)
    {
        context.Response.Headers.RetryAfter = "1";
        return Write(context, StatusCodes.Status503ServiceUnavailable, "UNAVAILABLE", message);
    }
}
