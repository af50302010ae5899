using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ScheduledPosts.ServiceDefaults.Errors;

/// <summary>Every response carries <c>X-Request-Id</c>, kept from the caller (the gateway) when given.</summary>
public static class RequestIds
{
    public const string Header = "X-Request-Id";

    /// <summary>The name the request id goes by in log scopes and on the request's trace span.</summary>
    public const string LogProperty = "XRequestId";
    public const string SpanTag = "sp.request_id";

    private const int MaxLength = 128;

    public static string Get(HttpContext context)
    {
        if (context.Items.TryGetValue(Header, out var existing) && existing is string id)
        {
            return id;
        }

        string incoming = context.Request.Headers[Header].ToString();
        id = IsAcceptable(incoming) ? incoming : Ids.New("req");
        context.Items[Header] = id;
        return id;
    }

    private static bool IsAcceptable(string value)
        => value.Length is > 0 and <= MaxLength && value.All(c => c is >= '!' and <= '~');
}

/// <summary>
/// The first step of every pipeline: settles the request id, returns it, tags the trace span with it and opens a
/// log scope with it, so every line logged while serving the request can be found by the id in an error body.
/// </summary>
public sealed class RequestIdMiddleware(RequestDelegate next, ILogger<RequestIdMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        string id = RequestIds.Get(context);
        // On starting, not now: the exception handler clears the headers of a response it replaces with an envelope.
        context.Response.OnStarting(() =>
        {
            context.Response.Headers[RequestIds.Header] = id;
            return Task.CompletedTask;
        });
        Activity.Current?.SetTag(RequestIds.SpanTag, id);
        using (logger.BeginScope(new RequestIdScope(id)))
        {
            await next(context);
        }
    }

    /// <summary>Structured (one property) for structured log sinks, readable for the console.</summary>
    private sealed class RequestIdScope(string id) : IReadOnlyList<KeyValuePair<string, object>>
    {
        private readonly KeyValuePair<string, object> _property = new(RequestIds.LogProperty, id);

        public int Count => 1;

        public KeyValuePair<string, object> this[int index] => index == 0 ? _property : throw new ArgumentOutOfRangeException(nameof(index));

        public IEnumerator<KeyValuePair<string, object>> GetEnumerator()
        {
            yield return _property;
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => $"{RequestIds.LogProperty}:{_property.Value}";
    }
}
